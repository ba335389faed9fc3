-- Hostile: never returns. The budget error keeps firing inside pcall, so
-- the inner pcall cannot swallow it.
return vigil.rule {
  id = "VGL-H-LOOP", title = "Infinite loop", severity = "low",
  where = { ["event.code"] = "hostile" },
  match = function(e)
    while true do
      pcall(function() while true do end end)
    end
  end,
}
