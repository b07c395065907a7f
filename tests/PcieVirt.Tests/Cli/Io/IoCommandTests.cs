using System.Text.Json;
using PcieVirt.Cli;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Tests.Devices.Nvme;

namespace PcieVirt.Tests.Cli.Io;

public class IoCommandTests
{
    static (int Code, string Out, string Err) RunOn(NvmeTestPlatform p, params string[] args)
    {
        var (io, error) = IoArguments.Parse(args);
        Assert.That(io, Is.Not.Null, error);
        var o = new StringWriter { NewLine = "\n" };
        var e = new StringWriter { NewLine = "\n" };
        int code = IoCommand.Run(p.Rc, io!, o, e);
        return (code, o.ToString(), e.ToString());
    }

    static string Bdf(NvmeTestPlatform p) => p.Function.Bdf.ToString();

    [Test]
    public void Json_HasTheStableKeys_AndVirtualTimeFigures()
    {
        var p = new NvmeTestPlatform();
        var (code, output, err) = RunOn(p, "--function", Bdf(p), "--rw", "randread", "--bs", "4k", "--iodepth", "4", "--ops", "200", "--json");
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.That(root.EnumerateObject().Select(x => x.Name), Is.EqualTo(new[] { "iops", "bw_bytes_per_s", "lat_ns", "ops", "errors", "verify_mismatches", "elapsed_ns" }));
        Assert.That(root.GetProperty("lat_ns").EnumerateObject().Select(x => x.Name), Is.EqualTo(new[] { "p50", "p90", "p99", "p999", "min", "max", "mean" }));
        Assert.That(root.GetProperty("ops").GetInt64(), Is.EqualTo(200));
        Assert.That(root.GetProperty("errors").GetInt64(), Is.Zero);
        // One media channel, 4 KiB read = 1 us overhead + 10 us + 4 x 250 ns: 12 us per command,
        // so the device completes 1 / 12 us = 83 333 commands per virtual second whatever the depth.
        Assert.That(root.GetProperty("lat_ns").GetProperty("min").GetUInt64(), Is.GreaterThanOrEqualTo(12_000UL));
        Assert.That(root.GetProperty("iops").GetDouble(), Is.InRange(83_000, 83_400));
        Assert.That(root.GetProperty("bw_bytes_per_s").GetDouble(), Is.EqualTo(root.GetProperty("iops").GetDouble() * 4096).Within(0.1).Percent);
        // With depth 4 on a serial device each command waits for the 3 ahead of it: 4 x 12 us in steady state.
        Assert.That(root.GetProperty("lat_ns").GetProperty("p50").GetUInt64(), Is.EqualTo(48_000UL));
    }

    [Test]
    public void SameSeed_IdenticalOutput_DifferentSeed_DifferentLbas()
    {
        string Run(string seed)
        {
            var p = new NvmeTestPlatform();
            var (code, output, err) = RunOn(p, "--function", Bdf(p), "--rw", "randrw", "--bs", "8k", "--iodepth", "8", "--ops", "300", "--seed", seed, "--verify");
            Assert.That(code, Is.Zero, err);
            return output + $"reads={p.Ns1.Reads} writes={p.Ns1.Writes}";
        }
        string first = Run("7"), second = Run("7"), other = Run("8");
        Assert.That(second, Is.EqualTo(first));
        Assert.That(other, Is.Not.EqualTo(first), "the seed chooses the mix of reads and writes");
    }

    [Test]
    public void Verify_ChecksEveryByte_AndReportsCorruption()
    {
        var p = new NvmeTestPlatform();
        var (code, output, _) = RunOn(p, "--function", Bdf(p), "--rw", "randrw", "--bs", "4k", "--iodepth", "8", "--ops", "400", "--verify");
        Assert.That(code, Is.Zero);
        Assert.That(output, Does.Contain("verify_mismatches=0"));

        // Corrupt the media behind the driver's back after the prefill: the verify pass must see it.
        var q = new NvmeTestPlatform();
        var corrupting = new CorruptOnRead(q);
        var (code2, output2, _) = RunOn(q, "--function", Bdf(q), "--rw", "read", "--bs", "4k", "--iodepth", "1", "--ops", "16", "--verify");
        Assert.That(corrupting.Armed, Is.True);
        Assert.That(code2, Is.EqualTo(1), output2);
        Assert.That(output2, Does.Match(@"verify_mismatches=[1-9]"));
        Assert.That(output2, Does.Contain("verify: LBA 0:"));
    }

    /// <summary>Flips one byte of LBA 0 in the namespace after the first write to it (the prefill).</summary>
    sealed class CorruptOnRead
    {
        public bool Armed;
        public CorruptOnRead(NvmeTestPlatform p)
        {
            p.Controller.Observer = new Hook(this, p);
        }

        sealed class Hook(CorruptOnRead owner, NvmeTestPlatform p) : INvmeCommandObserver
        {
            public void OnCommandCompleted(in NvmeCommandRecord r)
            {
                if (owner.Armed || r.SqId == 0 || r.Opcode != NvmeIoOpcode.Write) return;
                owner.Armed = true;
                var b = new byte[512];
                p.Ns1.Read(0, b);
                b[100] ^= 0xFF;
                p.Ns1.Write(0, b);
            }
        }
    }

    [Test]
    public void NotAnNvmeFunction_ClearError_Exit1()
    {
        var p = new NvmeTestPlatform();
        var (code, _, err) = RunOn(p, "--function", p.Port.Function.Bdf.ToString(), "--ops", "1");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.Contain("is not an NVMe controller function"));
        (code, _, err) = RunOn(p, "--function", "07:00.0", "--ops", "1");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.Contain("no function at"));
    }

    [TestCase(new[] { "io", "--rw", "read" }, "--function BDF is required")]
    [TestCase(new[] { "io", "--function", "01:00.0", "--bs", "4q" }, "--bs '4q' is not a size")]
    [TestCase(new[] { "io", "--function", "01:00.0", "--bs", "0" }, "--bs '0' is not a size")]
    [TestCase(new[] { "io", "--function", "01:00.0", "--rw", "sideways" }, "--rw 'sideways' is not one of read, write, randread, randwrite, randrw")]
    [TestCase(new[] { "io", "--function", "01:00.0", "--iodepth", "0" }, "--iodepth '0' is not a positive integer")]
    [TestCase(new[] { "io", "--function", "zz" }, "--function 'zz' is not a PCI address")]
    [TestCase(new[] { "io", "--function", "01:00.0", "--frobnicate" }, "unknown argument '--frobnicate'")]
    [TestCase(new[] { "io", "--function" }, "--function needs a value")]
    public void BadArguments_ClearMessage_Exit2(string[] args, string message)
    {
        var r = Pcievirt.Run(args);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
        Assert.That(r.Err, Does.Contain("pcievirt io: " + message));
        Assert.That(r.Err, Does.Contain("usage: pcievirt io"));
    }

    [Test]
    public void DefaultPlatform_RaidPf_RunsAVerifiedWorkload_OnItsRaid5Volume()
    {
        // default.json attaches vol0 (RAID 5 over four drives) to the RAID PF at power-on.
        var r = Pcievirt.Run("io", "--function", "01:00.0", "--rw", "randrw", "--bs", "4k", "--iodepth", "4", "--ops", "200", "--verify", "--seed", "7", "--json");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        using var doc = System.Text.Json.JsonDocument.Parse(r.Out);
        Assert.Multiple(() =>
        {
            Assert.That(doc.RootElement.GetProperty("ops").GetInt64(), Is.EqualTo(200));
            Assert.That(doc.RootElement.GetProperty("errors").GetInt64(), Is.Zero);
            Assert.That(doc.RootElement.GetProperty("verify_mismatches").GetInt64(), Is.Zero);
        });
    }

    [Test]
    public void Shell_VfOfTheRaidPf_BroughtOnline_RunsAVerifiedWorkloadOnItsVolume()
    {
        // default.json attaches vol1 (RAID 10) to VF 1. The PF provisions VF 1's secondary controller
        // (Virtualization Management) before a driver on the VF can enable it; BARs come from the PF's VF BAR.
        const string script = """
            sriov 01:00.0 numvfs=2
            raid 01:00.0 vf 1 assign vq=4 vi=4
            raid 01:00.0 vf 1 online
            io --function 01:00.1 --rw randrw --bs 4k --iodepth 4 --ops 300 --verify --seed 3 --json
            """;
        var r = Pcievirt.RunWithInput(script, "shell");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        string json = r.Out[r.Out.IndexOf('{')..];
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.That(doc.RootElement.GetProperty("verify_mismatches").GetInt64(), Is.Zero);
        Assert.That(doc.RootElement.GetProperty("errors").GetInt64(), Is.Zero);
    }

    [Test]
    public void Shell_VfNotBroughtOnline_FailsWithTheControllersFatalStatus()
    {
        var r = Pcievirt.RunWithInput("sriov 01:00.0 numvfs=2\nio --function 01:00.2 --rw randread --ops 10\n", "shell");
        Assert.That(r.ExitCode, Is.EqualTo(1), r.ToString());
        Assert.That(r.Err, Does.Contain("01:00.2: controller fatal status (CSTS.CFS) while enabling"));
    }

    [Test]
    public void DefaultPlatform_FunctionThatIsNotNvme_Exit1()
    {
        // The host bridge is not an NVMe controller.
        var r = Pcievirt.Run("io", "--function", "00:00.0", "--ops", "1");
        Assert.That(r.ExitCode, Is.EqualTo(1), r.ToString());
        Assert.That(r.Err, Does.Match("pcievirt io: (00:00.0 .* is not an NVMe controller function|no function at)"));
    }
}
