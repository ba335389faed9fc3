-- Hostile: keeps the event view past its call and reads it on the next one.
local stashed
return vigil.rule {
  id = "VGL-H-STASH", title = "Stashed event view", severity = "low",
  where = { ["event.code"] = "hostile" },
  match = function(e)
    if stashed then
      return stashed["source.ip"] == "10.0.0.1"
    end
    stashed = e
    return false
  end,
}
