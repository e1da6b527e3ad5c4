-- POST /v1/evaluate with a ~1 KB HAProxy change (one timeout changed), as `guardrail check`.
local old = [[
global
    log /dev/log local0
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe_web
    bind :443 ssl crt /etc/haproxy/web.pem
    acl is_api path_beg /api
    use_backend be_api if is_api
    default_backend be_web
backend be_web
    balance roundrobin
    option httpchk GET /health
    server web1 10.0.1.11:8080 check weight 100
    server web2 10.0.1.12:8080 check weight 100
    server web3 10.0.1.13:8080 check weight 100
backend be_api
    balance leastconn
    option httpchk GET /ready
    server api1 10.0.2.11:9000 check
    server api2 10.0.2.12:9000 check
    server api3 10.0.2.13:9000 check
    server api4 10.0.2.14:9000 check
]]
local new = old:gsub("timeout server 30s", "timeout server 45s")
local function esc(s) return (s:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('\n', '\\n')) end
wrk.method = "POST"
wrk.path = "/v1/evaluate"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("GUARDRAIL_TOKEN")
wrk.body = '{"kind":"load_balancer","env":"production","old":"' .. esc(old) .. '","new":"' .. esc(new) .. '"}'
