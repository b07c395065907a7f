using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;
using PcieVirt.Tests.Cli;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Devices.RaidController;

/// <summary>
/// The raid-controller device's QoS arbiter: <c>settings.qos</c> in the model (defaults per VF, JSON-path
/// errors), VFs joining and leaving the arbiter with SR-IOV, and limits enforced on I/O through the platform.
/// </summary>
[TestFixture]
public class RaidControllerQosTests
{
    static string Model(string qos) => DefaultModelJson.WithRaidSettings(
        "{ \"drives\": 8, \"driveSize\": \"64M\", \"cacheSize\": \"256M\", \"volumes\": ["
        + "{ \"name\": \"a\", \"level\": 5, \"drives\": [0, 1, 2, 3], \"attach\": [1] },"
        + "{ \"name\": \"b\", \"level\": 10, \"drives\": [4, 5, 6, 7], \"attach\": [2] }]"
        + (qos.Length == 0 ? "" : ", \"qos\": " + qos) + " }");

    static PcieSystem Boot(string qos)
    {
        var r = PlatformModel.Parse(Model(qos), "qos-test");
        Assert.That(r.Errors, Is.Empty);
        return PcieSystem.Boot(r.Model!);
    }

    [Test]
    public void WithoutQosSettings_TheControllerCompletesAtOnce_AndHasNoArbiter()
    {
        var d = Boot("").Hosts[0].RaidControllers().Single().Device;
        Assert.That(d.QosEnabled, Is.False);
        Assert.That(d.Arbiter, Is.Null);
        Assert.That(d.Primary.Media, Is.Null, "immediate mode");
    }

    [Test]
    public void QosSettings_ArbitrateThePf_AndGiveEachVfItsDefaultLimitsWhenItAppears()
    {
        var host = Boot("{ \"channels\": 4, \"vfs\": [{ \"vf\": 1, \"iops\": 2000, \"bw\": \"8M\", \"weight\": 3 }] }").Hosts[0];
        var d = host.RaidControllers().Single().Device;
        Assert.That(d.QosEnabled, Is.True);
        Assert.That(d.QosChannels, Is.EqualTo(4));
        Assert.That(d.Arbiter!.Controllers, Is.EqualTo(new[] { d.Primary }), "no VF exists yet");
        Assert.That(d.QosOf(1), Is.EqualTo(new QosLimits(2000, 8UL << 20, 3)), "the model's default, before VF 1 exists");
        var pf = host.Os.PhysicalFunctions[0].Address;
        Assert.That(host.Os.EnableVfs(pf, 2).Success, Is.True);
        Assert.That(d.Arbiter.LimitsOf(2), Is.EqualTo(new QosLimits(2000, 8UL << 20, 3)), "VF 1 (CNTLID 2) joined with its default");
        Assert.That(d.Arbiter.LimitsOf(3), Is.EqualTo(QosLimits.Unlimited), "VF 2 has no default");
        Assert.That(d.Primary.ConfigureQos(3, new QosLimits(100, 0, 2)), Is.EqualTo(PcieVirt.Devices.Nvme.NvmeStatus.Success));
        // VFs disabled: their controllers leave the arbiter, their limits are kept for when they return.
        Assert.That(host.Os.DisableVfs(pf).Success, Is.True);
        Assert.That(d.Arbiter.Controllers, Is.EqualTo(new[] { d.Primary }));
        Assert.That(d.QosOf(2), Is.EqualTo(new QosLimits(100, 0, 2)));
        Assert.That(host.Os.EnableVfs(pf, 2).Success, Is.True);
        Assert.That(d.Arbiter.LimitsOf(3), Is.EqualTo(new QosLimits(100, 0, 2)), "what the PF set survives VF disable and enable");
    }

    [Test]
    public void IopsLimitFromTheModel_IsEnforcedOnTheVfsIo()
    {
        string model = Path.Combine(Path.GetTempPath(), $"qos-{Guid.NewGuid():N}.json");
        File.WriteAllText(model, Model("{ \"vfs\": [{ \"vf\": 1, \"iops\": 2000 }] }"));
        try
        {
            var r = Pcievirt.Shell(["--model", model],
                "sriov 01:00.0 numvfs=2",
                "raid 01:00.0 vf 1 assign vq=4 vi=4",
                "raid 01:00.0 vf 1 online",
                "raid 01:00.0 vf 2 assign vq=4 vi=4",
                "raid 01:00.0 vf 2 online",
                "io --function 01:00.1 --rw randread --iodepth 8 --ops 400 --seed 2 --json",
                "io --function 01:00.2 --rw randread --iodepth 8 --ops 400 --seed 2 --json");
            Assert.That(r.ExitCode, Is.Zero, r.ToString());
            var docs = JsonObjects(r.Out);
            Assert.That(docs, Has.Count.EqualTo(2));
            double limited = docs[0].RootElement.GetProperty("iops").GetDouble(), free = docs[1].RootElement.GetProperty("iops").GetDouble();
            // 400 commands at 2000/s take 200 ms of virtual time, less the bucket's 1 ms burst.
            Assert.That(limited, Is.InRange(1900.0, 2050.0), "VF 1 is held to its 2000 IOPS");
            Assert.That(free, Is.GreaterThan(10 * limited), "VF 2, unlimited, runs at the media's pace");
        }
        finally { File.Delete(model); }
    }

    internal static List<System.Text.Json.JsonDocument> JsonObjects(string text)
    {
        var list = new List<System.Text.Json.JsonDocument>();
        int i = 0;
        while ((i = text.IndexOf("{\n", i, StringComparison.Ordinal)) >= 0)
        {
            int end = text.IndexOf("\n}", i, StringComparison.Ordinal);
            list.Add(System.Text.Json.JsonDocument.Parse(text[i..(end + 2)]));
            i = end + 2;
        }
        return list;
    }

    [TestCase("[]", "settings.qos: expected an object")]
    [TestCase("{ \"lanes\": 2 }", "settings.qos.lanes: unknown QoS setting")]
    [TestCase("{ \"channels\": 0 }", "settings.qos.channels: 0;")]
    [TestCase("{ \"vfs\": {} }", "settings.qos.vfs: expected an array")]
    [TestCase("{ \"vfs\": [{ \"iops\": 5 }] }", "settings.qos.vfs[0].vf: expected a VF number")]
    [TestCase("{ \"vfs\": [{ \"vf\": 1, \"weight\": 0 }] }", "settings.qos.vfs[0].weight: 0; a weight is 1..255")]
    [TestCase("{ \"vfs\": [{ \"vf\": 1, \"iops\": \"lots\" }] }", "settings.qos.vfs[0].iops:")]
    [TestCase("{ \"vfs\": [{ \"vf\": 1, \"iops\": 5000000000 }] }", "settings.qos.vfs[0].iops: 5000000000")]
    [TestCase("{ \"vfs\": [{ \"vf\": 1, \"burst\": 5 }] }", "settings.qos.vfs[0].burst: unknown QoS setting")]
    [TestCase("{ \"vfs\": [{ \"vf\": 1 }, { \"vf\": 1 }] }", "settings.qos.vfs[1].vf: VF 1 is given limits twice")]
    [TestCase("{ \"vfs\": [{ \"vf\": 99 }] }", "settings.qos.vfs: VF 99 does not exist")]
    public void BadQosSettings_FailTheBuild_NamingTheJsonPath(string qos, string message)
    {
        var r = PlatformModel.Parse(Model(qos), "qos-test");
        Assert.That(r.Errors, Is.Empty);
        var e = Assert.Throws<PlatformBuildException>(() => PcieSystem.Build(r.Model!));
        Assert.That(e!.Message, Does.Contain("functions[0]." + message));
    }
}
