-- GET requests cycling through the paths in the file $BENCH_PATHS (one a
-- line), each thread starting at its own place.  Used for getRecord (one
-- path per preloaded record), listRecords, _health and the return-200
-- ceiling, so that every read measurement costs the client the same.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  if line ~= "" then paths[#paths + 1] = line end
end
local n = #paths
local i = 0

function setup(thread)
  thread:set("start", math.random(0, 1000003))
end

function init(args)
  i = (start or 0) % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return wrk.format("GET", paths[i])
end
