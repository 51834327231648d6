-- spec/dist/mpi.lua: launching the spec/dist/*.lua scripts under mpirun from a busted spec.
--   local MPI = dofile("spec/dist/mpi.lua")
--   if not MPI.mpirun then ... skip ... end
--   local out, rc = MPI.launch(2, "spec/dist/collectives.lua", {}, {tcp = true})
-- Every launch runs under `timeout` (a hang guard: rc 124 means the job had to be killed).
-- Open MPI's shared-memory transport is told not to use its single-copy mechanism (CMA),
-- which containers often forbid. Under `make asan` mpirun itself runs without the sanitizer
-- and the ranks get it with -x, leak detection off: Open MPI unloads its components at
-- MPI_Finalize, so what they keep until exit shows up as leaks of "<unknown module>" that no
-- suppression can name (this process, which loads the module without MPI, keeps the check).
local M = {}

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
M.sh_quote = sh_quote

do
  local p = io.popen("command -v mpirun 2>/dev/null")
  local path = p:read("l")
  p:close()
  M.mpirun = path ~= "" and path or nil
end

--- run(cmd) -> output (stdout and stderr), exit status
function M.run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return (out:gsub("rc=%d+%s*$", "")), rc
end

local function env_opts()
  local parts = {}
  for _, v in ipairs({ "LUA_PATH", "LUA_CPATH", "LUA_PATH_5_4", "LUA_CPATH_5_4" }) do
    if os.getenv(v) then parts[#parts + 1] = "-x " .. v end
  end
  local pre = ""
  if os.getenv("LUNET_ASAN") then
    pre = "env -u LD_PRELOAD "
    parts[#parts + 1] = "-x LD_PRELOAD=" .. sh_quote(os.getenv("LD_PRELOAD") or "")
    parts[#parts + 1] = "-x ASAN_OPTIONS=" .. sh_quote((os.getenv("ASAN_OPTIONS") or "") .. ":detect_leaks=0")
    parts[#parts + 1] = "-x UBSAN_OPTIONS -x LUNET_ASAN"
  end
  return pre, table.concat(parts, " ")
end

--- launch(np, script, args, {tcp = false, verbose = false, guard = 300}) -> output, exit status
--- tcp: Open MPI's TCP transport only, on the loopback interface (as between machines);
--- verbose: Open MPI reports which transports it selects.
function M.launch(np, script, args, opts)
  opts = opts or {}
  local pre, envs = env_opts()
  local words = {}
  for i, a in ipairs(args or {}) do words[i] = sh_quote(a) end
  local mca = "--mca btl_vader_single_copy_mechanism none"
  if opts.tcp then
    mca = "--mca btl tcp,self --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo"
  end
  if opts.verbose then mca = mca .. " --mca btl_base_verbose 30" end
  local cmd = string.format("%stimeout -k 10 %d mpirun --allow-run-as-root --oversubscribe -np %d %s %s lua5.4 %s %s",
    pre, opts.guard or 300, np, mca, envs, sh_quote(script), table.concat(words, " "))
  return M.run(cmd)
end

--- lua(script, args) -> output, exit status of one plain process (no mpirun)
function M.lua(script, args)
  local words = {}
  for i, a in ipairs(args or {}) do words[i] = sh_quote(a) end
  return M.run("lua5.4 " .. sh_quote(script) .. " " .. table.concat(words, " "))
end

--- A fresh temporary directory (removed by the caller with rm -rf).
function M.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. sh_quote(d)))
  return d
end

return M
