--[[
VGL-DE-0006: AMSI bypass on the command line (MITRE T1562.001, Impair
Defenses: Disable or Modify Tools).

The Antimalware Scan Interface lets Defender inspect PowerShell and script
content before it runs. The well-known bypasses set
System.Management.Automation.AmsiUtils.amsiInitFailed through reflection or
patch AmsiScanBuffer; their names on a command line have no benign use.
]]

return vigil.rule {
  id = "VGL-DE-0006",
  title = "AMSI bypass attempt",
  description = "A command line references amsiInitFailed, AmsiUtils or AmsiScanBuffer " ..
    "(disabling the Antimalware Scan Interface).",
  severity = "high",
  tactic = "Defense Evasion",
  technique = "T1562.001",
  tags = {"windows", "process", "powershell"},
  where = {
    ["event.category"] = "process",
    ["process.command_line"] = {
      vigil.contains "amsiinitfailed",
      vigil.contains "amsiutils",
      vigil.contains "amsiscanbuffer",
      vigil.contains "amsicontext",
    },
  },
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
