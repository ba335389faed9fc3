-- Hostile: tries to run a shell command.
return vigil.rule {
  id = "VGL-H-EXEC", title = "Shell out", severity = "low",
  where = { ["event.code"] = "hostile" },
  match = function(e)
    os.execute("touch /tmp/vigil-hostile-exec")
    return true
  end,
}
