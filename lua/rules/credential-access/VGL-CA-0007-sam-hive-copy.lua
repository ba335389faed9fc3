--[[
VGL-CA-0007: SAM / SYSTEM / SECURITY hive copied (MITRE T1003.002,
Security Account Manager).

The local password hashes live in the SAM hive, encrypted with a key kept in
SYSTEM. The hives are locked while Windows runs, so they are taken with
`reg save HKLM\SAM`, `esentutl /y /vss ...\config\SAM` (copies through a
volume shadow copy) or a copy out of \\?\GLOBALROOT\Device\
HarddiskVolumeShadowCopyN\...\config\SAM.
]]

return vigil.rule {
  id = "VGL-CA-0007",
  title = "Registry hive with credentials copied (SAM/SYSTEM/SECURITY)",
  description = "A command line saves or copies the SAM, SYSTEM or SECURITY hive " ..
    "(reg save, esentutl /y, shadow copy path).",
  severity = "high",
  tactic = "Credential Access",
  technique = "T1003.002",
  tags = {"windows", "process", "credential-dumping"},
  where = {
    ["event.category"] = "process",
    -- linear-time patterns only; the combination is checked in match
    ["process.command_line"] = {
      vigil.re [=[(^|[\/[:space:]"])reg(\.exe)?"?[[:space:]]+(save|export)[[:space:]]+"?(hklm|hkey_local_machine)[\/](sam|system|security)([[:space:]"]|$)]=],
      vigil.re [=[config[\/](sam|system|security)([[:space:]"]|$)]=],
    },
  },
  match = function(e)
    local cmd = e["process.command_line"]
    if type(cmd) ~= "string" then
      return false
    end
    cmd = cmd:lower()
    -- reg save/export of a whole hive (the first pattern)
    if (cmd:find("save", 1, true) or cmd:find("export", 1, true)) and
       (cmd:find("hklm", 1, true) or cmd:find("hkey_local_machine", 1, true)) then
      return true
    end
    -- the hive file itself: copied by esentutl /y or out of a shadow copy
    if cmd:find("harddiskvolumeshadowcopy", 1, true) then
      return true
    end
    return cmd:find("esentutl", 1, true) ~= nil and
           (cmd:find(" /y ", 1, true) ~= nil or cmd:find(" -y ", 1, true) ~= nil)
  end,
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
