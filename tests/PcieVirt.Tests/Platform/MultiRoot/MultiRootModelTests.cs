using System.Text.Json.Nodes;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Fabric.MultiRoot;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Platform.MultiRoot;

public class MultiRootModelTests
{
    static string ModelPath => ModelFiles.DeviceModel("mriov-2host.json");

    static PcieSystem BootModel() => PcieSystem.Boot(PlatformModel.Load(ModelPath).GetModelOrThrow());

    static PlatformModelResult ParseWith(Action<JsonNode> mutate)
    {
        var node = JsonNode.Parse(File.ReadAllText(ModelPath))!;
        mutate(node);
        return PlatformModel.Parse(node.ToJsonString(), "mriov.json");
    }

    static JsonNode Device(JsonNode n) => n["multiRoot"]!["devices"]![0]!;

    [Test]
    public void The_two_host_model_boots_with_one_pf_in_each_host()
    {
        var s = BootModel();
        var mr = s.MultiRoot!;
        Assert.That(mr.Switch.Hierarchies, Has.Count.EqualTo(3), "VH0 + one per host");
        var d = mr.Devices.Single();
        var (pf0, pf1) = (d.Device.PhysicalFunctions[0], d.Device.PhysicalFunctions[1]);
        var host0 = s.Hosts[0].RootComplex;
        var host1 = s.Hosts[1].RootComplex;
        Assert.That(host0.AttachedFunctions, Does.Contain(pf0).And.Not.Contain(pf1));
        Assert.That(host1.AttachedFunctions, Does.Contain(pf1).And.Not.Contain(pf0));
        Assert.That(host0.FindFunction(pf0.Bdf), Is.SameAs(pf0));
        Assert.That(host1.FindFunction(pf1.Bdf), Is.SameAs(pf1));
        // host1 has a NIC on its first root port, so its VH's buses are one further along.
        Assert.That(pf1.Bdf.Bus, Is.EqualTo(pf0.Bdf.Bus + 1));
        Assert.That(mr.Management.FindFunction(d.Device.BaseFunction.Bdf), Is.SameAs(d.Device.BaseFunction));
        Assert.That(mr.Manager.Discover().Single().PfToVh, Is.EqualTo(new int?[] { 1, 2 }));
    }

    [Test]
    public void The_pfs_share_one_raid_engine_and_subsystem_with_distinct_controllers()
    {
        var s = BootModel();
        var raid = s.MultiRoot!.Devices[0].Raid!;
        Assert.That(raid.PhysicalFunctions, Has.Count.EqualTo(2));
        Assert.That(raid.PhysicalFunctions[0].Controller.ControllerId, Is.EqualTo(RaidControllerDevice.PrimaryControllerIdOf(0)));
        Assert.That(raid.PhysicalFunctions[1].Controller.ControllerId, Is.EqualTo(RaidControllerDevice.PrimaryControllerIdOf(1)));
        Assert.That(raid.PhysicalFunctions[1].Controller.ControllerId, Is.Not.EqualTo(raid.PhysicalFunctions[0].Controller.ControllerId));
        // vol0 is attached to PF0's primary and VF1 (settings) and to PF1's primary (attach list): one namespace, shared.
        var vol = raid.Engine.FindVolume("vol0")!;
        Assert.That(raid.ControllerAttachmentsOf(vol), Is.EquivalentTo(new[] { (0, 0), (0, 1), (1, 0) }));
        Assert.That(raid.Subsystem.FindNamespace(raid.NamespaceOf(vol))!.Shareable, Is.True);
    }

    [Test]
    public void Moving_a_pf_between_hosts_through_the_platform_rescans_the_new_host()
    {
        var s = BootModel();
        var mr = s.MultiRoot!;
        var d = mr.Devices[0];
        var pf0 = d.Device.PhysicalFunctions[0];
        Assert.That(mr.Manager.Move(d.Port, 0, 2).IsSuccess);
        Assert.That(s.Hosts[0].RootComplex.AttachedFunctions, Does.Not.Contain(pf0));
        s.Hosts[1].Enumerate(); // the OS rescan of the host that got the hot-add
        Assert.That(s.Hosts[1].RootComplex.FindFunction(pf0.Bdf), Is.SameAs(pf0));
        Assert.That(s.Hosts[1].Describe(new PciAddress(1, pf0.Bdf))!.Bars[0].Size, Is.EqualTo(64 * 1024UL), "BAR0 sized and placed by host1's rescan");

        // The rescan also re-ran host1's OS PCI core: it now drives PF0's SR-IOV; host0's forgets it after its own rescan.
        s.Hosts[0].Enumerate();
        var at = new PciAddress(1, pf0.Bdf);
        Assert.That(s.Hosts[1].Os.FindPhysicalFunction(at), Is.Not.Null);
        Assert.That(s.Hosts[0].Os.PhysicalFunctions, Is.Empty);
        var enabled = s.Hosts[1].Os.EnableVfs(at, 2);
        Assert.That(enabled.Success, enabled.ToString());
        var raid = d.Raid!;
        // PF0's VFs host secondary controllers 2 and 3 (CNTLID 1 + VF number, PF 0's range), in host1's hierarchy only.
        Assert.That(raid.VfControllersOf(0).Select(v => v.Controller.ControllerId), Is.EquivalentTo(new ushort[] { 2, 3 }));
        Assert.That(raid.VfControllersOf(1), Is.Empty);
        Assert.That(s.Hosts[1].Os.VirtualFunctions.Count(), Is.EqualTo(2));
        Assert.That(s.Hosts[0].RootComplex.AttachedFunctions.Any(f => f.IsVirtualFunction), Is.False);
    }

    [Test]
    public void Vfs_of_the_second_pf_use_its_own_controller_id_range()
    {
        var s = BootModel();
        var d = s.MultiRoot!.Devices[0];
        var pf1 = d.Device.PhysicalFunctions[1];
        var r = s.Hosts[1].Os.EnableVfs(new PciAddress(1, pf1.Bdf), 3);
        Assert.That(r.Success, r.ToString());
        Assert.That(d.Raid!.VfControllersOf(1).Select(v => v.Controller.ControllerId), Is.EquivalentTo(new ushort[] { 130, 131, 132 }));
        Assert.That(d.Raid.VfControllers, Is.Empty, "VfControllers lists PF 0's VFs");
        Assert.That(d.Raid.Attach("vol0", 1, 2).IsSuccess, Is.True);
        Assert.That(d.Raid.ControllerAttachmentsOf(d.Raid.Engine.FindVolume("vol0")!), Does.Contain((1, 2)));
        Assert.That(d.Raid.Attach("vol0", 1, 9).Error, Does.Contain("VF 9 does not exist"));
        Assert.That(d.Raid.Attach("vol0", 4, 0).Error, Does.Contain("PF 4 does not exist"));
    }

    [TestCase("switch.hosts[0].host", "nohost", "$.multiRoot.switch.hosts[0].host", "no host named 'nohost'")]
    [TestCase("switch.hosts[1].rootPort", "rp-nic", "$.multiRoot.switch.hosts[1].rootPort", "already has a device below it")]
    [TestCase("switch.hosts[1].rootPort", "rp9", "$.multiRoot.switch.hosts[1].rootPort", "has no root port named 'rp9'")]
    [TestCase("devices[0].assign[1].pf", "5", "$.multiRoot.devices[0].assign[1].pf", "PF 5 does not exist")]
    [TestCase("devices[0].assign[1].port", "9", "$.multiRoot.devices[0].assign[1].port", "is not a virtual port")]
    [TestCase("devices[0].physicalFunctions[1].function", "1", "$.multiRoot.devices[0].physicalFunctions[1].function", "is not 0")]
    [TestCase("devices[0].device", "\"nic\"", "$.multiRoot.devices[0].device", "is not an MRA device kind")]
    public void Invalid_multi_root_sections_are_reported_with_their_json_path(string where, string value, string path, string message)
    {
        var r = ParseWith(n => Set(n["multiRoot"]!, where, JsonNode.Parse(value.StartsWith('"') || char.IsDigit(value[0]) ? value : $"\"{value}\"")));
        Assert.That(r.Model, Is.Null);
        Assert.That(r.Errors.Any(e => e.Path == path && e.Message.Contains(message)), string.Join("\n", r.Errors));
    }

    [Test]
    public void A_host_without_bus_numbers_for_the_virtual_switch_is_an_error()
    {
        // host0: root bus + root port link (1) + internal bus (1) + 4 virtual ports × (1 + 4 reserved) = 23 buses.
        var ok = ParseWith(n => n["hosts"]![0]!["ecam"]!["busEnd"] = 22);
        Assert.That(ok.Errors, Is.Empty, string.Join("\n", ok.Errors));
        var r = ParseWith(n => n["hosts"]![0]!["ecam"]!["busEnd"] = 21);
        Assert.That(r.Errors.Any(e => e.Path == "$.multiRoot.switch.hosts[0].host" && e.Message.Contains("needs 23 bus numbers")), string.Join("\n", r.Errors));
    }

    [Test]
    public void Unknown_properties_and_a_missing_base_function_are_errors()
    {
        var r = ParseWith(n =>
        {
            Device(n).AsObject().Remove("baseFunction");
            n["multiRoot"]!["switch"]!["lanes"] = 4;
        });
        Assert.That(r.Errors.Select(e => e.Path), Does.Contain("$.multiRoot.devices[0].baseFunction").And.Contain("$.multiRoot.switch.lanes"));
    }

    static void Set(JsonNode root, string where, JsonNode? value)
    {
        var parts = where.Split('.');
        var node = root;
        for (int i = 0; i < parts.Length; i++)
        {
            string p = parts[i];
            int? index = null;
            int b = p.IndexOf('[');
            if (b >= 0) { index = int.Parse(p[(b + 1)..^1]); p = p[..b]; }
            bool last = i == parts.Length - 1;
            if (index is { } ix)
            {
                var arr = node[p]!.AsArray();
                if (last) arr[ix] = value; else node = arr[ix]!;
            }
            else if (last) node[p] = value;
            else node = node[p]!;
        }
    }
}
