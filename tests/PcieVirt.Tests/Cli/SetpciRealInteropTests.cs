using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Cli;

/// <summary>
/// <c>pcievirt setpci</c> against the real setpci 3.9.0 reading the same config bytes from our
/// <c>lspci -xxxx</c> dump (<c>-A dump</c>). Writes use <c>-D</c> (show, do not commit), since the
/// real tool cannot write a dump file. Exit code, stdout and stderr must all be identical.
/// </summary>
[TestFixture]
[Category("Interop")]
public class SetpciRealInteropTests
{
    DumpFile _dump = null!;

    [OneTimeSetUp]
    public void WriteDump()
    {
        RealPciutils.IgnoreUnlessInstalled();
        var r = Pcievirt.Run("lspci", "-xxxx");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString);
        _dump = new DumpFile(r.Out);
    }

    [OneTimeTearDown]
    public void Cleanup() => _dump?.Dispose();

    [TestCase("-s", "01:00.0", "VENDOR_ID", "DEVICE_ID", "COMMAND", "STATUS", "REVISION", "CLASS_DEVICE", "HEADER_TYPE")]
    [TestCase("-v", "-s", "01:00.0", "VENDOR_ID", "4.l", "BASE_ADDRESS_0", "ROM_ADDRESS", "SUBSYSTEM_ID")]
    [TestCase("-v", "-s", "00:02.0", "PRIMARY_BUS", "SECONDARY_BUS", "SUBORDINATE_BUS", "MEMORY_BASE", "MEMORY_LIMIT", "IO_BASE", "BRIDGE_CONTROL")]
    [TestCase("-v", "-s", "01:00.0", "CAP_EXP+8.W", "CAP_MSIX+2.w", "CAP_PM+4.W", "CAP_MSI.L", "CAP10+2.W")]
    [TestCase("-v", "-s", "01:00.0", "ECAP_AER+8.L", "ECAP_ACS+4.W", "ECAP_ARI+4.W", "ECAP_DSN+4.L", "ECAP1+4.L", "ECAP0003.L")]
    [TestCase("-v", "-s", "03:0b.0", "CAP_EXP+14.L", "CAP_EXP+1a.W", "ECAP_ACS+4.W")]
    [TestCase("-v", "-s", "01:00.0", "CAP_EXP.W@0", "CAP_EXP+2.W")]
    [TestCase("-s", "01:00.0", "CAP_EXP.W@1")]
    [TestCase("-s", "01:00.0", "CAP_EXP@1.W")]
    [TestCase("-s", "01:00.0", "CAP_EXP.W@x")]
    [TestCase("-s", "01:00.0", "CAP_SATA.B")]
    [TestCase("-v", "-s", "01:00.0", "ECAP_SRIOV.L")]
    [TestCase("-v", "-s", "01:00.0", "ECAP_DSN+ffc.L")]
    [TestCase("-s", "01:00.0", "CAP_EXP+ffe.W")]
    [TestCase("-v", "-s", "00:01.0", "BASE_ADDRESS_2")]
    [TestCase("-v", "-s", "00:01.0", "INTERRUPT_LINE", "INTERRUPT_PIN", "MIN_GNT")]
    [TestCase("-s", "01:00.0", "3.W")]
    [TestCase("-s", "01:00.0", "01000.b")]
    [TestCase("-s", "01:00.0", "4+fff.b")]
    [TestCase("-s", "01:00.0", "4.ww")]
    [TestCase("-s", "01:00.0", "4.q")]
    [TestCase("-s", "01:00.0", "ECAP1000.L")]
    [TestCase("-s", "01:00.0", "CAP100.L")]
    [TestCase("-s", "01:00.0", "FOO")]
    [TestCase("-s", "01:00.0", "COMMAND.W=10000")]
    [TestCase("-s", "01:00.0", "COMMAND.W=5:")]
    [TestCase("-s", "01:00.0", "ffc.l=1,2")]
    [TestCase("-d", "8086:1521", "0.l", "-s", "04:00.0", "0.l")]
    [TestCase("-d", "144d:", "CLASS_PROG")]
    [TestCase("-s", "1:0.0", "2.w")]
    [TestCase("-s", "09:00.0", "VENDOR_ID")]
    [TestCase("-f", "-s", "01:1f.7", "0.L")]
    [TestCase("-v", "-D", "-s", "01:00.0", "COMMAND.W=5:7")]
    [TestCase("-v", "-D", "-s", "01:00.0", "COMMAND.W=ff:7", "4.b=1,2")]
    [TestCase("-v", "-D", "-s", "01:00.0", "CAP_MSIX+2.W=8000:c000")]
    [TestCase("-v", "-D", "-s", "04:00.0", "0.L=ffffffff:0000ffff", "ECAP_AER+8.L=100000:100000")]
    [TestCase("-v", "-D", "-s", "03:0b.0", "CAP_EXP+18.W=03ff,1")]
    [TestCase("-v", "-D", "-d", "144d:a808", "COMMAND.W=0")]
    public void Same_exit_code_stdout_and_stderr_as_real_setpci(params string[] args)
    {
        var (exit, stdout, stderr) = RealPciutils.Setpci(_dump.Path, args);
        var real = new CliResult(exit, stdout, stderr);
        var ours = Pcievirt.Run(["setpci", .. args]);
        Assert.That(ours, Is.EqualTo(real), () => $"ours:\n{ours}\nreal:\n{real}");
    }
}
