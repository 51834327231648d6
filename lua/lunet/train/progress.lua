-- lunet.train.progress: the progress display of fit: a bar redrawn in place with "\r" on a
-- terminal (items/s, ETA, running loss), one plain line per epoch otherwise.
--
--   local P = require "lunet.train.progress"
--   local p = P.new{mode = P.detect(io.stdout), out = io.stdout}
--   p:start(epoch, epochs, nbatches)
--   p:update(batch_number, items_so_far, running_loss)   -- throttled to ~10 redraws/s
--   p:finish(summary_line)                                -- the epoch's line, newline-terminated
--
-- Modes: "bar" (terminal), "lines" (one line per epoch), "none" (silent).
-- detect(out): "bar" when out is io.stdout, stdout is a terminal (`test -t 1`, run once
-- through os.execute, whose shell inherits our file descriptor 1) and TERM is set and is not
-- "dumb"; "lines" otherwise (pipes, files, CI logs, any other output object).
local core = require "lunet.core"
local E = require "lunet.errors"

local floor, max, min, huge = math.floor, math.max, math.min, math.huge
local fmt, rep = string.format, string.rep
local setmetatable, getenv, execute = setmetatable, os.getenv, os.execute

local M = {}

-- Monotonic wall clock in seconds (os.clock is CPU time, os.time has 1 s resolution).
local wallclock = core.nn and core.nn.wallclock
if not wallclock then wallclock = os.time end
M.clock = wallclock

local tty_cache
function M.detect(out)
  if out ~= io.stdout then return "lines" end
  if tty_cache == nil then
    local term = getenv("TERM")
    tty_cache = term ~= nil and term ~= "" and term ~= "dumb" and execute("test -t 1") == true
  end
  return tty_cache and "bar" or "lines"
end

--- "1:02:03" / "02:03" from seconds.
function M.hms(s)
  if s ~= s or s == huge or s < 0 then return "--:--" end
  s = floor(s + 0.5)
  local h, m = s // 3600, (s % 3600) // 60
  if h > 0 then return fmt("%d:%02d:%02d", h, m, s % 60) end
  return fmt("%02d:%02d", m, s % 60)
end

local Progress = {}
Progress.__index = Progress

local known = { "mode", "out", "width" }

--- new{mode = "bar"|"lines"|"none" (default "lines"), out = io.stdout, width = 20 (bar cells)}
function M.new(o)
  local fn = "progress.new"
  o = E.options(o, fn, known)
  E.choice(fn, "mode", o.mode or "lines", { "bar", "lines", "none" })
  local width = o.width ~= nil and E.integer(fn, "width", o.width, 1, 1000) or 20
  local out = o.out or io.stdout
  if (type(out) ~= "table" and type(out) ~= "userdata") or out.write == nil then
    E.fail(fn, "out must have a write method (a file), got %s", E.typename(out))
  end
  return setmetatable({ mode = o.mode or "lines", out = out, width = width,
                        last_len = 0, last_draw = -huge }, Progress)
end

function Progress:start(epoch, epochs, nbatches)
  self.epoch, self.epochs, self.nbatches = epoch, epochs, nbatches
  self.t0 = wallclock()
  self.last_draw = -huge
end

function Progress:write_inplace(line)
  local pad = max(0, self.last_len - #line)
  self.out:write("\r", line, rep(" ", pad))
  if self.out.flush then self.out:flush() end
  self.last_len = #line
end

function Progress:update(b, items, loss, force)
  if self.mode ~= "bar" then return end
  local now = wallclock()
  if not force and now - self.last_draw < 0.1 and b < self.nbatches then return end
  self.last_draw = now
  local el = now - self.t0
  local n = self.nbatches
  local frac = n > 0 and min(1, b / n) or 1
  local fill = floor(frac * self.width + 0.5)
  local bar = rep("=", fill) .. (fill < self.width and ">" or "") .. rep(" ", max(0, self.width - fill - 1))
  local rate = el > 0 and items / el or 0
  local eta = b > 0 and el / b * (n - b) or huge
  self:write_inplace(fmt("epoch %d/%d [%s] %d/%d %.0f img/s ETA %s loss %.4f",
                         self.epoch, self.epochs, bar, b, n, rate, M.hms(eta), loss))
end

-- Starts a validation phase on the bar (terminal only).
function Progress:status(text)
  if self.mode ~= "bar" then return end
  self:write_inplace(text)
end

function Progress:finish(line)
  if self.mode == "none" then return end
  if self.mode == "bar" then
    self:write_inplace(line)
    self.out:write("\n")
    self.last_len = 0
  else
    self.out:write(line, "\n")
  end
  if self.out.flush then self.out:flush() end
end

function Progress:note(line)
  if self.mode == "none" then return end
  if self.mode == "bar" and self.last_len > 0 then self.out:write("\n"); self.last_len = 0 end
  self.out:write(line, "\n")
  if self.out.flush then self.out:flush() end
end

return M
