-- The plumbing of examples/instances.lua and examples/saliency.lua: --quick runs (seconds) with
-- the seed flags used to measure the spread of their recipes, and the held-out seed refused as a
-- training seed. The bars themselves need the full runs (README).

describe("examples/instances.lua and examples/saliency.lua", function()
  local dir = os.tmpname()
  os.remove(dir)
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  local function run(cmd)
    local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
    local out = p:read("a")
    p:close()
    return out, tonumber(out:match("rc=(%d+)%s*$"))
  end

  it("instances --quick runs with --seed and --data-seed and writes its overlay", function()
    local out, rc = run("lua5.4 examples/instances.lua --quick --threads 1 --seed 3 --data-seed 2 --out " .. dir .. "/i")
    assert.are.equal(0, rc, out)
    assert.is_truthy(out:find("post-processing chosen on the 8 validation composites", 1, true), out)
    assert.is_truthy(out:find("settings tried", 1, true), out)
    assert.is_truthy(io.open(dir .. "/i/instances_overlay.png", "rb"), out)
    -- --eval loads the weights of that run and chooses on the coarse grid only with --coarse
    out, rc = run("lua5.4 examples/instances.lua --quick --threads 1 --seed 3 --data-seed 2 --eval --coarse --out "
                  .. dir .. "/i")
    assert.are.equal(0, rc, out)
    assert.is_truthy(out:find("48 settings tried", 1, true), out)
  end)

  it("saliency --quick runs with --seed and --data-seed", function()
    local out, rc = run("lua5.4 examples/saliency.lua --quick --threads 1 --test 16 --seed 3 --data-seed 2 --out "
                        .. dir .. "/s")
    assert.are.equal(0, rc, out)
    assert.is_truthy(out:find("max F-beta", 1, true), out)
    assert.is_truthy(io.open(dir .. "/s/saliency_maps.png", "rb"), out)
  end)

  it("refuse the held-out set's seed as --data-seed", function()
    for _, ex in ipairs { "instances", "saliency" } do
      local out, rc = run("lua5.4 examples/" .. ex .. ".lua --quick --data-seed 1 --out " .. dir .. "/x")
      assert.are_not.equal(0, rc, out)
      assert.is_truthy(out:find(ex .. ": --data-seed 1 is the held-out set's seed", 1, true), out)
    end
  end)
end)
