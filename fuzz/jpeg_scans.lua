-- fuzz/jpeg_scans.lua: a valid 8 x 8 gray progressive JPEG with any number of scans (every
-- coefficient 0, so the image is flat gray 128). Scan 1 is the DC scan; then each AC band
-- k = 1..63 gets a first scan at Al = 13 and refinement scans down to Al = 0, in order, until
-- n scans are written: a legal progression, so only a limit on scans can refuse it.
-- spec/loaders_spec.lua uses it for the 500-scan limit, fuzz/make_corpus.lua for a seed.
local M = {}

local function seg(marker, body)
  return string.pack(">BBI2", 0xff, marker, #body + 2) .. body
end

function M.gray8x8(n)
  local parts = {"\255\216"}                                           -- SOI
  parts[#parts + 1] = seg(0xdb, "\0" .. string.rep("\1", 64))           -- DQT 0: all ones
  parts[#parts + 1] = seg(0xc2, string.pack(">BI2I2B", 8, 8, 8, 1) .. "\1\17\0")   -- SOF2
  -- DC table 0 and AC table 0 with one symbol (0x00) coded "0": DC diff 0, and EOB
  local one = "\1" .. string.rep("\0", 15) .. "\0"
  parts[#parts + 1] = seg(0xc4, "\0" .. one .. "\16" .. one)
  local function scan(ss, se, ah, al)
    parts[#parts + 1] = seg(0xda, string.pack(">BBBBBB", 1, 1, 0, ss, se, ah * 16 + al)) .. "\127"
  end
  scan(0, 0, 0, 0)
  local count = 1
  for k = 1, 63 do
    for al = 13, 0, -1 do
      if count >= n then break end
      scan(k, k, al == 13 and 0 or al + 1, al)
      count = count + 1
    end
  end
  parts[#parts + 1] = "\255\217"                                        -- EOI
  return table.concat(parts)
end

return M
