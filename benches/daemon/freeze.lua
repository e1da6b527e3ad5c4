-- POST /v1/freezes: a small write (one row and its audit record in one transaction, no
-- evaluation, an answer of constant size), the "other writes" measured beside a large
-- submission by scripts/bench-daemon-large.sh. The freezes end in 2099 and name a target glob
-- no change uses, so they do not hold anything.
wrk.method = "POST"
wrk.path = "/v1/freezes"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("GUARDRAIL_TOKEN")
wrk.body = '{"env":"staging","targets":"bench-none-*","reason":"bench","until":"2099-01-01T00:00:00Z"}'
