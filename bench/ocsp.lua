-- wrk script: POST one OCSP request (the DER file named by $OCSP_REQUEST) at the URL's path.
local f = assert(io.open(os.getenv("OCSP_REQUEST"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/ocsp-request"

-- wrk's default resolve() opens a probe connection to every address and closes it without
-- sending anything; `openssl ocsp` serves one connection at a time and spins on that probe
-- forever. Use the first address without probing.
function wrk.resolve(host, service)
  local addrs = wrk.lookup(host, service)
  wrk.addrs = { addrs[1] }
end
