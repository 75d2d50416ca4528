-- wrk script: GET /v2/<repo>/manifests/<tag> round-robin over the repositories
-- given after `--`, with an OCI Accept header; prints one machine-readable
-- RESULT line when done (bench/gateway.sh parses it).
--
--   wrk -t2 -c64 -d10s -s bench/manifest.lua URL -- TAG REPO1 REPO2 ...

local requests = {}
local next_index = 1

function init(args)
  local tag = args[1]
  local accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
  for i = 2, #args do
    -- Formatted once: the client should spend its CPU on sockets, not Lua.
    requests[#requests + 1] = wrk.format("GET", "/v2/" .. args[i] .. "/manifests/" .. tag,
      { ["Accept"] = accept })
  end
  assert(#requests > 0, "manifest.lua: give a tag and at least one repository")
end

function request()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
