--[[
VGL-IM-0002: volume shadow copies or backups deleted (MITRE T1490, Inhibit
System Recovery).

vssadmin delete shadows, wmic shadowcopy delete, wbadmin delete
catalog/systemstatebackup, bcdedit recoveryenabled no, and the PowerShell
Win32_ShadowCopy removal: what ransomware runs right before encrypting.
]]

return vigil.rule {
  id = "VGL-IM-0002",
  title = "Shadow copies or backup catalog deleted",
  description = "A command line deletes volume shadow copies or the backup catalog, or " ..
    "turns off Windows recovery.",
  severity = "high",
  tactic = "Impact",
  technique = "T1490",
  tags = {"windows", "process", "ransomware"},
  where = {
    ["event.category"] = "process",
    -- linear-time patterns; wmic / PowerShell need a second word, checked in match
    ["process.command_line"] = {
      vigil.re [=[vssadmin(\.exe)?"?[[:space:]]+(delete[[:space:]]+shadows|resize[[:space:]]+shadowstorage)]=],
      vigil.re [=[wbadmin(\.exe)?"?[[:space:]]+delete[[:space:]]+(catalog|systemstatebackup|backup)]=],
      vigil.re [=[recoveryenabled[[:space:]]+"?no]=],
      vigil.contains "shadowcopy",
    },
  },
  match = function(e)
    local cmd = e["process.command_line"]
    if type(cmd) ~= "string" then
      return false
    end
    cmd = cmd:lower()
    if not cmd:find("shadowcopy", 1, true) then
      return true -- vssadmin, wbadmin or bcdedit above
    end
    -- wmic shadowcopy delete / Win32_ShadowCopy ... Delete() or Remove-CimInstance
    return cmd:find("delete", 1, true) ~= nil or cmd:find("remove-ciminstance", 1, true) ~= nil or
           cmd:find("remove-wmiobject", 1, true) ~= nil
  end,
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
