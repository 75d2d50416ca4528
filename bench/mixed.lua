-- wrk script: a mix of manifest GETs, search POSTs and blob GETs over the
-- repositories given after `--`, interleaved by weight; counts every answer
-- that is not 2xx and prints one machine-readable RESULT line when done
-- (bench/load.sh parses it).
--
--   wrk -t2 -c1000 -d60s -s bench/mixed.lua URL -- MIX TAG DIGEST REPO1 REPO2 ...
--
-- MIX is `manifests:searches:blobs`, weights out of their sum (6:2:2 is 60%
-- manifests). Searches alternate between one repository's ImageList (sent to
-- its owner) and a first page of RepoListWithNewestImage (fanned out to every
-- member and merged). DIGEST is a blob every repository holds.

local kinds = {}    -- kind name -> list of formatted requests
local next_of = {}  -- kind name -> next index into its list
local cycle = {}    -- the kinds in the order they are sent
local at = 1
non2xx = 0          -- global: read per thread by done() through thread:get
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

local function search(query)
  local body = '{"query":' .. string.format("%q", query):gsub("\\\n", "\\n") .. '}'
  return wrk.format("POST", "/v2/_zot/ext/search", { ["Content-Type"] = "application/json" }, body)
end

function init(args)
  local weights = {}
  for w in string.gmatch(args[1] or "", "%d+") do weights[#weights + 1] = tonumber(w) end
  assert(#weights == 3, "mixed.lua: MIX is manifests:searches:blobs, e.g. 6:2:2")
  local tag, digest = args[2], args[3]
  local accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
  kinds = { manifest = {}, search = {}, blob = {} }
  for i = 4, #args do
    local repo = args[i]
    -- Formatted once: the client should spend its CPU on sockets, not Lua.
    table.insert(kinds.manifest, wrk.format("GET", "/v2/" .. repo .. "/manifests/" .. tag, { ["Accept"] = accept }))
    table.insert(kinds.blob, wrk.format("GET", "/v2/" .. repo .. "/blobs/" .. digest))
    table.insert(kinds.search, search('{ImageList(repo:"' .. repo .. '"){Page{TotalCount} Results{RepoName Tag}}}'))
    table.insert(kinds.search, search('{RepoListWithNewestImage(requestedPage:{limit:10 offset:0 sortBy:UPDATE_TIME}){Page{TotalCount ItemCount} Results{Name LastUpdated}}}'))
  end
  assert(#kinds.manifest > 0, "mixed.lua: give MIX, TAG, DIGEST and at least one repository")
  local names = { "manifest", "search", "blob" }
  local most = math.max(weights[1], weights[2], weights[3])
  for round = 1, most do
    for k = 1, 3 do
      if round <= weights[k] then cycle[#cycle + 1] = names[k] end
    end
  end
  assert(#cycle > 0, "mixed.lua: every weight is 0")
  for _, name in ipairs(names) do next_of[name] = 1 end
end

function request()
  local kind = cycle[at]
  at = at % #cycle + 1
  local list = kinds[kind]
  local i = next_of[kind]
  next_of[kind] = i % #list + 1
  return list[i]
end

function response(status)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, _)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (tonumber(t:get("non2xx")) or 0) end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d " ..
    "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, bad,
    e.connect, e.read, e.write, e.timeout))
end
