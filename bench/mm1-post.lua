-- wrk script of the MM1 benchmark (bench/src/bin/mm1.rs): POST the same binary MMS PDU on
-- every request of every keep-alive connection.
--
--   wrk -t1 -c32 -d10s --latency -s bench/mm1-post.lua http://127.0.0.1:8514/mms -- BODY MSISDN
--
-- BODY: a file holding the m-send-req (binary, sent as is); MSISDN: the sender, sent in
-- X-MSISDN (trusted from 127.0.0.1 by mmsc's default trusted_proxies).
--
-- No response() callback: with one, wrk hands every response to Lua, which slows the load
-- generator itself. wrk counts non-2xx responses on its own; the benchmark checks mmsc's
-- answers through its counters and its notification log instead.

function init(args)
   local path = args[1]
   if path == nil then
      error("usage: wrk ... -s mm1-post.lua URL -- BODY_FILE [MSISDN]")
   end
   local f = assert(io.open(path, "rb"))
   local body = f:read("*a")
   f:close()
   wrk.method = "POST"
   wrk.body = body
   wrk.headers["Content-Type"] = "application/vnd.wap.mms-message"
   wrk.headers["X-MSISDN"] = args[2] or "+358401000001"
   -- wrk.format() (called after init) adds Host and Content-Length.
end
