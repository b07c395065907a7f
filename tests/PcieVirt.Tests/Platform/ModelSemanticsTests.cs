using System.Text.Json.Nodes;
using PcieVirt.Fabric;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform.Model;
using static PcieVirt.Tests.Platform.Baseline;

namespace PcieVirt.Tests.Platform;

/// <summary>What a valid model turns into: defaults, resolved values and derived facts.</summary>
[TestFixture]
public class ModelSemanticsTests
{
    static JsonNode J(string json) => JsonNode.Parse(json)!;

    static HostModel HostOf(Action<JsonNode> mutate)
    {
        var r = ParseWith(mutate);
        Assert.That(r.Errors, Is.Empty, Describe(r));
        return r.Model!.Hosts[0];
    }

    [Test]
    public void Defaults_AreFilledIn()
    {
        var host = HostOf(_ => { });
        var rp0 = host.RootPorts[0];
        var f1 = host.AllFunctions().Single(f => f.Name == "dev1");
        Assert.Multiple(() =>
        {
            Assert.That(host.Segment, Is.EqualTo(0));
            Assert.That(rp0.Name, Is.EqualTo("rp01.0"), "default name follows device.function like lspci");
            Assert.That(rp0.Function, Is.EqualTo(0));
            Assert.That(rp0.BusReserve, Is.EqualTo(0));
            Assert.That(rp0.AriForwarding, Is.True);
            Assert.That(rp0.HotPlug, Is.Null);
            Assert.That(rp0.Acs, Is.Null);
            Assert.That((rp0.Identity.VendorId, rp0.Identity.DeviceId, rp0.Identity.ClassCode), Is.EqualTo(((ushort)0x1b36, (ushort)0x000c, 0x060400u)), "QEMU PCIe root port");
            Assert.That(f1.Identity.InterruptPin, Is.EqualTo(1), "INTA by default");
            Assert.That(f1.Identity.RevisionId, Is.EqualTo(0));
            Assert.That(f1.DeviceKind, Is.EqualTo("generic"));
            Assert.That(f1.Settings, Is.Null);
            Assert.That(f1.ExpansionRomSize, Is.EqualTo(0u));
            Assert.That(f1.Capabilities.Pcie, Is.EqualTo(new PcieCapabilityModel { MaxPayload = 256, Flr = false, ExtendedTag = true }));
            Assert.That(f1.Capabilities.Msi, Is.Null);
            Assert.That(f1.Capabilities.Sriov, Is.Null);
        });
    }

    [Test]
    public void SwitchPorts_InheritTheSwitchIdentityAndGetDerivedNames()
    {
        var host = HostOf(_ => { });
        var sw = host.AllSwitches().Single();
        Assert.That(sw.DownstreamPorts.Select(p => p.Name), Is.EqualTo(new[] { "sw0.dp00", "sw0.dp01" }));
        Assert.That(sw.DownstreamPorts.All(p => p.Identity == sw.Identity), Is.True);
        Assert.That(sw.Identity.ClassCode, Is.EqualTo(0x060400u));
        var overridden = HostOf(n => DownstreamPort(n, 1)["identity"] = J("""{ "vendorId": "0x104c", "deviceId": "0x8233" }"""));
        Assert.That(overridden.AllSwitches().Single().DownstreamPorts[1].Identity.DeviceId, Is.EqualTo(0x8233));
    }

    [Test]
    public void HotPlug_TrueGivesDefaultElements_ObjectOverrides()
    {
        var host = HostOf(n => RootPort(n, 0)["hotPlug"] = J("""{ "surprise": true, "attentionButton": false }"""));
        Assert.That(host.AllPorts().Single(p => p.Name == "sw0.dp01").HotPlug, Is.EqualTo(new HotPlugModel()));
        Assert.That(host.RootPorts[0].HotPlug, Is.EqualTo(new HotPlugModel { Surprise = true, AttentionButton = false }));
        Assert.That(HostOf(n => RootPort(n, 0)["hotPlug"] = false).RootPorts[0].HotPlug, Is.Null);
    }

    [Test]
    public void AutoFirstVfOffset_PlacesVfsAfterAllFunctionsPfByPf()
    {
        // PF0 (4 VFs, stride 1) and PF1 (3 VFs, stride 2): functions 0,1; PF0's VFs at 2..5, PF1's at 6, 8, 10.
        var host = HostOf(n =>
        {
            RootPort(n, 0)["downstream"]!["functions"]!.AsArray().Add(J("""
                { "function": 1, "name": "pf1", "identity": { "vendorId": 1, "deviceId": 2, "classCode": 3 },
                  "capabilities": { "ari": true, "sriov": { "totalVfs": 3, "vfStride": 2, "vfDeviceId": 9 } } }
                """));
        });
        var ep = (EndpointModel)host.RootPorts[0].Downstream!;
        Assert.That(ep.Functions[0].Capabilities.Sriov!.FirstVfOffset, Is.EqualTo(2));
        Assert.That(ep.Functions[1].Capabilities.Sriov!.FirstVfOffset, Is.EqualTo(5), "6 - function 1");
        Assert.That(ep.VirtualFunctions().Select(v => v.RelativeRoutingId), Is.EqualTo(new[] { 2, 3, 4, 5, 6, 8, 10 }));
        Assert.That(ep.IsAriDevice, Is.True);
        Assert.That(ep.VfBusesBeyondOwn(), Is.EqualTo(0));
    }

    [Test]
    public void VfRoutingId_FollowsOffsetAndStrideWith16BitWrap()
    {
        var iov = new SriovModel
        {
            InitialVfs = 4, TotalVfs = 4, VfDeviceId = 1, FirstVfOffset = 0x80, VfStride = 2,
            SupportedPageSizes = SriovModel.RequiredPageSizes, FunctionDependencyLink = 0, VfBars = [],
        };
        var pf = new PcieVirt.Pci.Bdf(3, 0, 0).Value;
        Assert.That(new PcieVirt.Pci.Bdf(iov.VfRoutingId(pf, 0)).ToString(), Is.EqualTo("03:10.0"));
        Assert.That(new PcieVirt.Pci.Bdf(iov.VfRoutingId(pf, 3)).ToString(), Is.EqualTo("03:10.6"));
        Assert.That(iov.VfRoutingId(0xFFFF, 0), Is.EqualTo(0x7F), "16-bit arithmetic wraps");
    }

    [Test]
    public void VfMigration_AllowsInitialVfsBelowTotal()
    {
        var host = HostOf(n => { Sriov0(n)["initialVfs"] = 2; Sriov0(n)["vfMigration"] = true; });
        var iov = host.AllFunctions().First().Capabilities.Sriov!;
        Assert.That((iov.InitialVfs, iov.TotalVfs, iov.VfMigration), Is.EqualTo((2, 4, true)));
    }

    [Test]
    public void SupportedPageSizes_ListAndMaskAreEquivalent()
    {
        var list = HostOf(n => Sriov0(n)["supportedPageSizes"] = J("""["4K", "8K", "64K", "256K", "1M", "4M", "2M"]"""));
        var mask = HostOf(n => Sriov0(n)["supportedPageSizes"] = "0x753");
        Assert.That(list.AllFunctions().First().Capabilities.Sriov!.SupportedPageSizes, Is.EqualTo(0x753u), "2M is bit 9");
        Assert.That(mask.AllFunctions().First().Capabilities.Sriov!.SupportedPageSizes, Is.EqualTo(0x753u));
    }

    [Test]
    public void Capabilities_MapToRegisterEncodings()
    {
        var host = HostOf(n =>
        {
            Caps0(n)["msi"] = J("""{ "vectors": 8, "is64Bit": false, "perVectorMask": true }""");
            Caps0(n)["pcie"] = J("""{ "maxPayload": 1024, "flr": true, "extendedTag": false }""");
            Caps0(n)["pm"] = J("""{ "d1": true, "pmeSupport": ["D0", "D1", "D3hot", "D3cold"], "noSoftReset": false }""");
            Caps0(n)["acs"] = J("""{ "features": ["p2pRequestRedirect", "p2pEgressControl"], "egressControlVectorSize": 16 }""");
            Caps0(n)["aer"] = J("""{ "ecrcGeneration": true }""");
        });
        var caps = host.AllFunctions().First().Capabilities;
        Assert.Multiple(() =>
        {
            Assert.That(caps.Msi!.MultipleMessageCapable, Is.EqualTo(3));
            Assert.That(caps.Msi.Is64Bit, Is.False);
            Assert.That(caps.Pcie.MaxPayloadEncoding, Is.EqualTo(3), "1024 bytes = encoding 3 (§7.5.3.3)");
            // PME_Support bits 15:11 = D0, D1, D2, D3hot, D3cold.
            Assert.That((int)caps.PowerManagement!.PmeSupport, Is.EqualTo(0b11011));
            Assert.That(caps.PowerManagement.D1Support && !caps.PowerManagement.D2Support && !caps.PowerManagement.NoSoftReset, Is.True);
            // ACS Capability register: R = bit 2, E = bit 5.
            Assert.That((int)caps.Acs!.Features, Is.EqualTo(0x24));
            Assert.That(caps.Acs.EgressControlVectorSize, Is.EqualTo(16));
            Assert.That(caps.Aer, Is.EqualTo(new AerModel { EcrcGeneration = true, EcrcCheck = false }));
            // MSI-X: 8 entries × 16 bytes; PBA one QWORD.
            Assert.That((caps.Msix!.TableBytes, caps.Msix.PbaBytes), Is.EqualTo((128u, 8u)));
        });
    }

    [TestCase(1, 8u)]
    [TestCase(64, 8u)]
    [TestCase(65, 16u)]
    [TestCase(2048, 256u)]
    public void MsixPbaBytes_IsOneQwordPer64Vectors(int entries, uint bytes) =>
        Assert.That(new MsixModel { TableSize = entries, TableBar = 0, TableOffset = 0, PbaBar = 0, PbaOffset = 0 }.PbaBytes, Is.EqualTo(bytes));

    [Test]
    public void Settings_AreKeptAsJsonForTheDeviceModel()
    {
        var host = HostOf(n =>
        {
            Function1(n)["device"] = "raid-controller";
            Function1(n)["settings"] = J("""{ "drives": 4, "levels": ["raid0", "raid5"] }""");
        });
        var f = host.AllFunctions().Single(x => x.Name == "dev1");
        Assert.That(f.DeviceKind, Is.EqualTo("raid-controller"));
        Assert.That(f.Settings!.Value.GetProperty("levels")[1].GetString(), Is.EqualTo("raid5"));
    }

    [Test]
    public void Bars_AreSortedByIndex()
    {
        var host = HostOf(n => Function1(n)["bars"] = J("""[ { "index": 4, "kind": "mem32", "size": "4K" }, { "index": 0, "kind": "mem64", "prefetchable": true, "size": "1M" } ]"""));
        var bars = host.AllFunctions().Single(x => x.Name == "dev1").Bars;
        Assert.That(bars, Is.EqualTo(new[] { new BarDefinition(0, BarKind.Memory64, 1 << 20, true), new BarDefinition(4, BarKind.Memory32, 4096) }));
    }

    [Test]
    public void Ecam_PartialBusRange()
    {
        var host = HostOf(n =>
        {
            HostNode(n)["ecam"] = J("""{ "base": "0xE400_0000", "busStart": 64, "busEnd": 127 }""");
        });
        Assert.That((host.Ecam.BusCount, host.Ecam.Size, host.RootBus), Is.EqualTo((64, 64UL << 20, (byte)64)));
    }

    [Test]
    public void BusNumbersNeeded_CountsPortsSwitchesAndReserves()
    {
        var host = HostOf(_ => { });
        // rp0: its secondary bus. rp1: its secondary (switch upstream port), the switch's internal bus,
        // dp0's secondary, dp1's secondary + 2 reserved.
        Assert.That(host.RootPorts.Select(p => p.BusNumbersNeeded()), Is.EqualTo(new[] { 1, 6 }));
    }

    [Test]
    public void RamRanges_AllBelowTheHoleWhenSmall()
    {
        var host = HostOf(_ => { });
        Assert.That(host.RamRanges, Is.EqualTo(new[] { new AddressRange(0, 2UL << 30) }));
    }

    [Test]
    public void Integrated_EndpointsAndHostBridge()
    {
        var host = HostOf(n => HostNode(n)["integratedEndpoints"] = J("""
            [ { "device": 0, "name": "hb", "functions": [ { "function": 0, "name": "host-bridge",
                "identity": { "vendorId": "0x1b36", "deviceId": "0x0008", "classCode": "0x060000", "interruptPin": "none" } } ] } ]
            """));
        var ep = host.IntegratedEndpoints.Single();
        Assert.That((ep.IsIntegrated, ep.Device, ep.Name), Is.EqualTo((true, 0, "hb")));
        Assert.That(ep.Functions[0].Identity.InterruptPin, Is.EqualTo(0));
        Assert.That(host.AllEndpoints().First(), Is.SameAs(ep));
    }

    [Test]
    public void MultipleHosts_WithDistinctSegments()
    {
        var r = ParseWith(n =>
        {
            var second = JsonNode.Parse(HostNode(n).ToJsonString())!;
            second["name"] = "h1";
            second["segment"] = 1;
            n["hosts"]!.AsArray().Add(second);
        });
        Assert.That(r.Errors, Is.Empty, Describe(r));
        Assert.That(r.Model!.Hosts.Select(h => (h.Name, h.Segment)), Is.EqualTo(new[] { ("h0", (ushort)0), ("h1", (ushort)1) }));
        Assert.That(r.Model.AllFunctions().Count(), Is.EqualTo(4));
    }
}
