-- wrk script: POST the /validate request (JSON file named by $VALIDATE_REQUEST).
local f = assert(io.open(os.getenv("VALIDATE_REQUEST"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
