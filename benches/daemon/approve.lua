-- POST /v1/changes/{id}/approvals: a small write (one approval row and its audit record in one
-- transaction, no evaluation), the "other writes" measured beside a large submission.
wrk.method = "POST"
wrk.path = "/v1/changes/" .. os.getenv("CHANGE_ID") .. "/approvals"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("GUARDRAIL_TOKEN")
wrk.body = '{"decision":"approve","comment":"bench","content_hash":"' .. os.getenv("CHANGE_HASH") .. '"}'
