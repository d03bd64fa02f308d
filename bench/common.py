"""Helpers the bench scripts share: free loopback ports and waiting for a
server to listen."""

import socket
import time


def free_port():
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=600, proc=None):
    """Waits until something accepts connections on `port`, or exits (at
    once when `proc`, the process that should listen, has ended)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the process for port {port} exited ({proc.returncode}) before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


# nginx as both benchmarks run it: one worker, an upstream keepalive pool,
# no buffering. keepalive_requests is raised on both sides so that nginx does
# not close the client's or its upstream connection every 1,000 requests
# (the relay does not either), which would add connection set-up to its
# figures.
NGINX_CONF = """
{master}worker_processes 1;
daemon off;
pid {tmp}/nginx-{port}.pid;
error_log {tmp}/nginx-{port}-error.log warn;
events {{ worker_connections {connections}; }}
http {{
    {access_log};
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream openai {{
        server 127.0.0.1:{upstream};
        keepalive 128;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://openai;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer sk-bench";
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"""


def nginx_conf(tmp, port, upstream, access_log, master_process=True, worker_connections=1024):
    """The nginx.conf text; `master_process=False` runs one process (callgrind)."""
    master = "" if master_process else "master_process off;\n"
    return NGINX_CONF.format(tmp=tmp, port=port, upstream=upstream, access_log=access_log, master=master,
                             connections=worker_connections)
