using PcieVirt.Tests.Platform;

namespace PcieVirt.Tests.Cli.MultiRoot;

public class MultiRootCommandTests
{
    static readonly string Model = ModelFiles.DeviceModel("mriov-2host.json");
    static readonly string[] ModelArgs = ["--model", Model];

    static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Test]
    public void Each_host_sees_only_its_own_vh_and_mgmt_sees_the_base_function()
    {
        var h0 = Pcievirt.Run("lspci", "--model", Model, "--host", "0", "-n");
        var h1 = Pcievirt.Run("lspci", "--model", Model, "--host", "host1", "-n");
        var mgmt = Pcievirt.Run("lspci", "--model", Model, "--host", "mgmt", "-n");
        Assert.That((h0.ExitCode, h1.ExitCode, mgmt.ExitCode), Is.EqualTo((0, 0, 0)), $"{h0}\n{h1}\n{mgmt}");
        // host0: root port, the virtual switch's upstream port, 4 virtual downstream ports, PF0 (class 0104).
        Assert.That(Lines(h0.Out), Has.Length.EqualTo(7));
        Assert.That(Lines(h0.Out).Count(l => l.Contains("1b36:00c1")), Is.EqualTo(4));
        Assert.That(Lines(h0.Out).Count(l => l.Contains("0104: 1b36:00b0")), Is.EqualTo(1));
        Assert.That(h0.Out, Does.Not.Contain("1b36:00bf"));
        // host1 (segment 1): its NIC too; its PF sits one bus further along than host0's.
        Assert.That(h1.Out, Does.Contain("0001:04:00.0 0104: 1b36:00b0").And.Contain("8086:1521").And.Not.Contain("1b36:00bf"));
        Assert.That(h0.Out, Does.Contain("03:00.0 0104: 1b36:00b0"));
        // mgmt: the switch's management view and the BF (class 0880), no PF.
        Assert.That(mgmt.Out, Does.Contain("0880: 1b36:00bf").And.Not.Contain("1b36:00b0"));
    }

    [Test]
    public void The_base_function_shows_the_mr_iov_extended_capability_to_lspci()
    {
        var r = Pcievirt.Run("lspci", "--model", Model, "--host", "mgmt", "-vvv", "-d", "1b36:00bf");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        // lspci names extended capability 0011h "Multi-Root I/O Virtualization" and does not decode it.
        Assert.That(r.Out, Does.Contain("Multi-Root I/O Virtualization <?>"));
    }

    [Test]
    public void Bad_host_selections_are_errors()
    {
        var r = Pcievirt.Run("lspci", "--model", Model, "--host", "7");
        Assert.That(r.ExitCode, Is.EqualTo(2));
        Assert.That(r.Err, Does.Contain("no host '7'").And.Contain("mgmt"));
        var d = Pcievirt.Run("lspci", "--host", "mgmt");
        Assert.That(d.ExitCode, Is.EqualTo(2));
        Assert.That(d.Err, Does.Contain("no multi-root section"));
    }

    [Test]
    public void Mrpcim_move_shows_hot_remove_and_hot_add_in_the_slot_registers()
    {
        var r = Pcievirt.Shell(ModelArgs,
            "mrpcim move mraid-pf0 --to-host 1",
            "setpci --host 0 -s 02:00.0 CAP_EXP+1a.w",
            "setpci --host 1 -s 03:01.0 CAP_EXP+1a.w",
            "lspci --host 0 -n",
            "lspci --host 1 -n");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        var lines = Lines(r.Out);
        // Slot Status (§7.5.3.11): bit 3 Presence Detect Changed, bit 6 Presence Detect State, bit 8 DLL State Changed.
        Assert.That(lines, Does.Contain("0108"), "old slot: changed, card gone");
        Assert.That(lines, Does.Contain("0148"), "new slot: changed, card present");
        Assert.That(r.Out, Does.Contain("hot-remove at VH1 vport 0").And.Contain("hot-add at VH2 vport 1"));
        Assert.That(r.Out, Does.Contain("host1: slot rescan below 03:01.0: 1 functions, 0 failures"), "only the slot is rescanned");
        int h0Start = Array.FindIndex(lines, l => l.StartsWith("00:01.0"));
        int h1Start = Array.FindIndex(lines, l => l.StartsWith("0001:00:01.0"));
        var host0 = lines[h0Start..h1Start];
        var host1 = lines[h1Start..];
        Assert.That(host0.Count(l => l.Contains("1b36:00b0")), Is.Zero);
        Assert.That(host1.Count(l => l.Contains("1b36:00b0")), Is.EqualTo(2));
    }

    [Test]
    public void Mrpcim_list_bind_and_unbind()
    {
        var r = Pcievirt.Shell(ModelArgs,
            "mrpcim unbind 2 0",
            "mrpcim bind 1 3 0 1",
            "mrpcim list");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Out, Does.Contain("PF0→VH1, PF1→VH1"));
        Assert.That(r.Out, Does.Contain("vport 3 02:03.0 slot present, link up: mraid-pf1"));
    }

    [TestCase("mrpcim move nope --to-host 1", "no PF 'nope'")]
    [TestCase("mrpcim move mraid-pf0 --to-host 9", "not linked")]
    [TestCase("mrpcim bind 0 0 0 0", "management VH")]
    [TestCase("mrpcim unbind 1 3", "not bound")]
    [TestCase("mrpcim frob", "bad arguments")]
    public void Mrpcim_refusals(string line, string message)
    {
        var r = Pcievirt.Shell(ModelArgs, line);
        Assert.That(r.ExitCode, Is.Not.EqualTo(0));
        Assert.That(r.Err, Does.Contain(message));
    }
}
