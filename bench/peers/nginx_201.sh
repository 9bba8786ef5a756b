#!/usr/bin/env bash
# The HTTP publish anchor of bench/run_server_bench.sh: nginx answering every
# request with `return 201` (empty body), one process (no master, one worker's
# work), no access log, keep-alive without a request limit. It runs in the
# foreground, in place of this script (exec: same PID, same pinned core), on
# 127.0.0.1:PORT, with its configuration, logs and temp files in DIR:
#
#   bench/peers/nginx_201.sh PORT DIR
#
# Prints "listening on 127.0.0.1:PORT" first (the suite waits for "listening",
# then for the port). Needs nginx (Debian: nginx-light; the suite installs it).
set -euo pipefail
port=${1:?usage: nginx_201.sh PORT DIR}
dir=${2:?usage: nginx_201.sh PORT DIR}
nginx=$(command -v nginx || echo /usr/sbin/nginx)
mkdir -p "$dir"
cat > "$dir/nginx.conf" << EOF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log stderr warn;
pid $dir/nginx.pid;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 300s;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    location / { return 201; }
  }
}
EOF
echo "listening on 127.0.0.1:$port"
exec "$nginx" -p "$dir" -c "$dir/nginx.conf" -e stderr
