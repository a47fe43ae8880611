-- The wrk script of the HTTP load (Tools/http-bench.sh runs it; docs in its header).
--
--   wrk -t2 -c64 -d10s -s Tools/http-load/load.lua http://127.0.0.1:PORT -- SCENARIO IDS_DIR [CONTENT_BYTES] [READ_LIMIT] [status]
--
-- SCENARIO:
--   send   POST /messages/user/{random user} {"sender": random user, "content": CONTENT_BYTES bytes}
--   read   GET  /messages/{random user}?limit=READ_LIMIT
--   mix    80% send, 15% read, 5% POST /messages/group/{random group} from one of its members
-- IDS_DIR holds users.txt (one user id a line) and groups.txt (a group id and its
-- member ids a line, separated by spaces), written by Tools/http-load/setup.py.
--
-- done() prints one line `JSON {...}`: requests, req/s, latency percentiles in
-- ms, the responses that were not 2xx and wrk's socket errors. non2xx is wrk's
-- own count (status > 399; this API answers no 1xx or 3xx). With the fifth
-- argument `status`, a response() callback also counts them by class
-- ("statuses"); that makes wrk hand every response's headers and
-- body to Lua, which costs it about a third of its request rate, so it is off
-- by default.

local threads = {}
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("tid", thread_count)
   table.insert(threads, thread)
end

local users, groups = {}, {}
local scenario, content, limit
local post_headers = { ["Content-Type"] = "application/json" }
local get_headers = {}

-- Status counts of this thread, read by done() through thread:get().
s2xx, s3xx, s4xx, s5xx, sother = 0, 0, 0, 0, 0

local function split(line)
   local fields = {}
   for field in string.gmatch(line, "%S+") do table.insert(fields, field) end
   return fields
end

local function read_lines(path)
   local file = assert(io.open(path, "r"), "cannot open " .. path)
   local lines = {}
   for line in file:lines() do
      if line ~= "" then table.insert(lines, line) end
   end
   file:close()
   return lines
end

local function count_status(status, headers, body)
   if status < 300 and status >= 200 then s2xx = s2xx + 1
   elseif status < 400 and status >= 300 then s3xx = s3xx + 1
   elseif status < 500 and status >= 400 then s4xx = s4xx + 1
   elseif status < 600 and status >= 500 then s5xx = s5xx + 1
   else sother = sother + 1 end
end

function init(args)
   scenario = args[1]
   local dir = args[2]
   local bytes = tonumber(args[3] or "100")
   limit = tonumber(args[4] or "20")
   assert(scenario == "send" or scenario == "read" or scenario == "mix", "scenario must be send, read or mix")
   users = read_lines(dir .. "/users.txt")
   for _, line in ipairs(read_lines(dir .. "/groups.txt")) do
      local fields = split(line)
      local group = { id = fields[1], members = {} }
      for i = 2, #fields do table.insert(group.members, fields[i]) end
      table.insert(groups, group)
   end
   assert(#users > 0, "no users in " .. dir)
   -- Plain ASCII, nothing to escape in JSON.
   local text = "The quick brown fox jumps over the lazy dog. "
   content = string.sub(string.rep(text, math.ceil(bytes / #text)), 1, bytes)
   math.randomseed(os.time() * 100 + wrk.thread:get("tid"))
   -- wrk looks for a global response() after the first thread's init().
   if args[5] == "status" then response = count_status end
end

local function direct()
   local to = users[math.random(#users)]
   local from = users[math.random(#users)]
   return wrk.format("POST", "/messages/user/" .. to, post_headers,
      '{"sender":"' .. from .. '","content":"' .. content .. '"}')
end

local function inbox()
   return wrk.format("GET", "/messages/" .. users[math.random(#users)] .. "?limit=" .. limit, get_headers)
end

local function group_send()
   local group = groups[math.random(#groups)]
   local from = group.members[math.random(#group.members)]
   return wrk.format("POST", "/messages/group/" .. group.id, post_headers,
      '{"sender":"' .. from .. '","content":"' .. content .. '"}')
end

function request()
   if scenario == "send" then return direct() end
   if scenario == "read" then return inbox() end
   local r = math.random()
   if r < 0.80 then return direct() end
   if r < 0.95 then return inbox() end
   return group_send()
end

function done(summary, latency, requests)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   local detail = "null"
   local c = { s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0, sother = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(c) do c[name] = c[name] + (thread:get(name) or 0) end
   end
   if c.s2xx + c.s3xx + c.s4xx + c.s5xx + c.sother > 0 then
      detail = string.format('{"2xx":%d,"3xx":%d,"4xx":%d,"5xx":%d,"other":%d}', c.s2xx, c.s3xx, c.s4xx, c.s5xx, c.sother)
   end
   io.write(string.format(
      'JSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,'
      .. '"mean_ms":%.3f,"non2xx":%d,"statuses":%s,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, latency.mean / 1000, e.status, detail, e.connect, e.read, e.write, e.timeout))
end
