-- lunet.config(): what computes here, read from the CPU, lunet's dispatch and OpenBLAS.
local lunet = require "lunet"

describe("lunet.config", function()
  local c = lunet.config()
  it("names the version, the CPU and the thread budget", function()
    assert.equal(lunet._VERSION, c.version)
    assert.is_string(c.cpu)
    assert.is_true(#c.cpu > 0)
    assert.equal(lunet.get_num_threads(), c.threads)
  end)
  it("reports the GEMM kernels lunet dispatches to", function()
    local isas = lunet.core.gemm.isas()
    assert.is_truthy(({ avx512 = true, avx2 = true, generic = true })[c.gemm_isa])
    local listed = false
    for _, v in ipairs(isas) do listed = listed or v == c.gemm_isa end
    assert.is_true(listed)
  end)
  it("reports the conv ISA in use, following conv_set_isa", function()
    if not lunet.core.nn.conv_isa_supported("avx2") then
      assert.is_nil(c.conv_isa)
      return
    end
    local prev = lunet.core.nn.conv_set_isa("avx2")
    assert.equal("avx2", lunet.config().conv_isa)
    lunet.core.nn.conv_set_isa(prev)
    assert.equal(prev, lunet.config().conv_isa)
  end)
  it("reports OpenBLAS's own configuration and core", function()
    assert.equal("OpenBLAS", c.blas)
    assert.matches("^OpenBLAS %d+%.%d+", c.blas_config)
    assert.is_string(c.blas_core)
    assert.is_true(c.blas_threads >= 1)
  end)
  it("follows set_num_threads", function()
    local old = lunet.get_num_threads()
    lunet.set_num_threads(1)
    local t = lunet.config().threads
    lunet.set_num_threads(old)
    assert.equal(1, t)
  end)
end)
