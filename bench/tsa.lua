-- wrk script: POST an RFC 3161 TimeStampReq (DER file named by $TSA_REQUEST) to /tsa.
local f = assert(io.open(os.getenv("TSA_REQUEST"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/timestamp-query"

-- Count answers that are not 200 (a granted token is always 200; so is a rejection, which the
-- script checks once before the run).
local bad = 0
response = function(status, headers, body)
    if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
    io.write(string.format("non-200: %d\n", bad))
end
