-- com.atproto.repo.createRecord with a fresh app.bsky.feed.post each request
-- (the server picks the record key, a TID).  $BENCH_DID is the repo,
-- $BENCH_JWT its access token.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local did = os.getenv("BENCH_DID")
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. os.getenv("BENCH_JWT"),
}
local n = 0

function setup(thread)
  thread:set("tag", tostring(math.random(0, 1e9)))
end

function request()
  n = n + 1
  local body = string.format(
    '{"repo":"%s","collection":"app.bsky.feed.post","record":' ..
    '{"$type":"app.bsky.feed.post","text":"benchmark post %s-%d, a sentence of ordinary length",' ..
    '"createdAt":"%s"}}',
    did, tag or "0", n, os.date("!%Y-%m-%dT%H:%M:%S.000Z"))
  return wrk.format("POST", "/xrpc/com.atproto.repo.createRecord", headers, body)
end
