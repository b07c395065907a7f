using PcieVirt.Platform;
using PcieVirt.Platform.Model;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Devices.RaidController;

/// <summary>
/// What an idle VF of the RAID controller keeps in memory: enabling many VFs (a 64-VF PF is the default
/// model) must not cost per VF what a busy controller needs (queues, transfer buffers, timed-mode tables),
/// only the function itself (config space, BAR and MSI-X state) and a small controller.
/// </summary>
[TestFixture]
public class IdleVfMemoryTests
{
    const int Vfs = 48;

    static long RetainedPerVf(bool raid)
    {
        string json = DefaultModelJson.WithRaidSettings("{ \"drives\": 2, \"driveSize\": \"16M\" }");
        if (!raid)
        {
            // The same PF as a plain SR-IOV endpoint: its VFs are generic functions.
            var root = System.Text.Json.Nodes.JsonNode.Parse(json)!;
            var f = Find(root)!;
            f.Remove("device");
            f.Remove("settings");
            json = root.ToJsonString();
        }
        var r = PlatformModel.Parse(json, "idle-vf-test");
        Assert.That(r.Errors, Is.Empty);
        var system = PcieSystem.Boot(r.Model!);
        var host = system.Hosts[0];
        var pf = host.Os.PhysicalFunctions[0].Address;
        // Enable and disable once so one-time costs (JIT, the PF's lazily built tables) are paid before measuring.
        Assert.That(host.Os.EnableVfs(pf, Vfs).Success, Is.True);
        Assert.That(host.Os.DisableVfs(pf).Success, Is.True);
        long before = Retained();
        Assert.That(host.Os.EnableVfs(pf, Vfs).Success, Is.True);
        long after = Retained();
        GC.KeepAlive(system);
        return (after - before) / Vfs;
    }

    static System.Text.Json.Nodes.JsonObject? Find(System.Text.Json.Nodes.JsonNode? node) => node switch
    {
        System.Text.Json.Nodes.JsonObject o when o["device"]?.GetValueKind() == System.Text.Json.JsonValueKind.String
            && (string?)o["device"] == "raid-controller" => o,
        System.Text.Json.Nodes.JsonObject o => o.Select(p => Find(p.Value)).FirstOrDefault(x => x != null),
        System.Text.Json.Nodes.JsonArray a => a.Select(Find).FirstOrDefault(x => x != null),
        _ => null,
    };

    static long Retained()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    [Test]
    public void IdleRaidControllerVfs_RetainLittleMoreThanAGenericVf()
    {
        long raid = RetainedPerVf(raid: true);
        long generic = RetainedPerVf(raid: false);
        TestContext.Out.WriteLine($"retained per idle VF: raid-controller {raid} B, generic {generic} B");
        // The controller object, its queue slots (sized by the VF's MSI-X table) and MSI-X/BAR mapping remain;
        // namespace tables, the error log, PRP tables, transfer buffers and timed-mode tables come on first use.
        Assert.That(raid, Is.LessThan(generic + 5 * 1024), "an idle VF's NVMe controller keeps under 5 KiB beyond the generic VF");
    }
}
