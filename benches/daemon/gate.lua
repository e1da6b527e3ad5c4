-- GET /v1/gate for content an approved change covers.
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("GUARDRAIL_TOKEN")
wrk.path = "/v1/gate?target=lb-web&env=staging&hash=" .. os.getenv("GATE_HASH")
