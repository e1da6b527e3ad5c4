-- GET /v1/changes/{id}: one change, read from the store on every request (no cache).
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("GUARDRAIL_TOKEN")
wrk.path = "/v1/changes/" .. os.getenv("CHANGE_ID")
