--[[
VGL-CA-0006: credential dumping tool on the command line (MITRE T1003.001).

Process creation (Windows 4688, Sysmon 1, Defender for Endpoint) whose
command line runs a known way to dump LSASS: mimikatz modules
(sekurlsa::, lsadump::, privilege::debug ...), Invoke-Mimikatz /
Out-Minidump, a procdump-style full dump of lsass (-ma lsass.exe, whatever the
tool is renamed to), or the comsvcs.dll MiniDump export run through rundll32
(by name or by ordinal #24). The regular expressions avoid ".*" so that a long
hostile command line costs linear time.
]]

return vigil.rule {
  id = "VGL-CA-0006",
  title = "Credential dumping tool executed",
  description = "A process command line runs mimikatz, procdump against lsass or the " ..
    "comsvcs.dll MiniDump export.",
  severity = "high",
  tactic = "Credential Access",
  technique = "T1003.001",
  tags = {"windows", "process", "credential-dumping"},
  where = {
    ["event.category"] = "process",
    ["process.command_line"] = {
      vigil.contains "sekurlsa::",
      vigil.contains "lsadump::",
      vigil.contains "privilege::debug",
      vigil.contains "kerberos::golden",
      vigil.contains "dpapi::",
      vigil.contains "invoke-mimikatz",
      vigil.contains "out-minidump",
      -- procdump -ma lsass.exe / -mp C:\...\lsass (the dump flag, then lsass as target)
      vigil.re [=[[-/]m[amp][[:space:]]+"?([^[:space:]"]*[\/])?lsass(\.exe)?([[:space:]"]|$)]=],
      vigil.re [=[comsvcs(\.dll)?"?[[:space:]]*,?[[:space:]]*(minidump|#[+-]?0*24([^0-9]|$))]=],
    },
  },
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
