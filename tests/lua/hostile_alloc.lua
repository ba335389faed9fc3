-- Hostile: allocates without bound (1 MiB a step) and tries to carry on
-- after the memory error.
return vigil.rule {
  id = "VGL-H-ALLOC", title = "Unbounded allocation", severity = "low",
  where = { ["event.code"] = "hostile" },
  match = function(e)
    local hoard = {}
    for i = 1, 1000 do
      pcall(function() hoard[#hoard + 1] = string.rep("x", 1 << 20) .. i end)
    end
    return true
  end,
}
