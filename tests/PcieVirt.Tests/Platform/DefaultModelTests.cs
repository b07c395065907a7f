using PcieVirt.Fabric;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Platform;

[TestFixture]
public class DefaultModelTests
{
    static PlatformModel LoadFile(string name)
    {
        var result = PlatformModel.Load(ModelFiles.DeviceModel(name));
        Assert.That(result.Errors, Is.Empty, () => string.Join("\n", result.Errors));
        return result.Model!;
    }

    [Test]
    public void DefaultFile_ParsesWithoutErrors()
    {
        var model = LoadFile("default.json");
        Assert.That(model.Name, Is.EqualTo("default"));
        Assert.That(model.Hosts, Has.Count.EqualTo(1));
        Assert.That(model.Hosts[0].RootPorts, Has.Count.InRange(2, 3));
    }

    [Test]
    public void EmbeddedDefault_EqualsFileOnDisk()
    {
        var onDisk = File.ReadAllText(ModelFiles.DeviceModel("default.json"));
        Assert.That(PlatformModel.ReadDefaultJson(), Is.EqualTo(onDisk));
        Assert.That(PlatformModel.LoadDefault().Hosts[0].AllFunctions().Select(f => f.Name),
            Is.EqualTo(LoadFile("default.json").Hosts[0].AllFunctions().Select(f => f.Name)));
    }

    [Test]
    public void Default_RaidController_HasTheDescribedPfAndSriov()
    {
        var host = LoadFile("default.json").Hosts[0];
        var raid = host.AllFunctions().Single(f => f.DeviceKind == "raid-controller");
        Assert.Multiple(() =>
        {
            // IDs exist in pci.ids: 1000:005b MegaRAID SAS 2208, VF 1000:002f MegaRAID SAS 2208 IOV.
            Assert.That(raid.Identity.VendorId, Is.EqualTo(0x1000));
            Assert.That(raid.Identity.DeviceId, Is.EqualTo(0x005b));
            Assert.That(raid.Identity.ClassCode, Is.EqualTo(0x010400u));
            Assert.That(raid.Identity.InterruptPin, Is.EqualTo(1));
            var bar0 = raid.Bar(0)!;
            Assert.That(bar0.Kind, Is.EqualTo(BarKind.Memory64));
            Assert.That(bar0.Size, Is.GreaterThanOrEqualTo(16UL * 1024));
            var caps = raid.Capabilities;
            Assert.That(caps.PowerManagement, Is.Not.Null);
            Assert.That(caps.Msi, Is.Not.Null);
            Assert.That(caps.Msix!.TableBar, Is.EqualTo(0));
            Assert.That(caps.Pcie.Flr, Is.True);
            Assert.That(caps.Aer, Is.Not.Null);
            Assert.That(caps.DeviceSerialNumber, Is.EqualTo(0x500605b00a1b2c3dUL));
            Assert.That(caps.Ari, Is.True);
            var iov = caps.Sriov!;
            Assert.That(iov.TotalVfs, Is.EqualTo(64));
            Assert.That(iov.InitialVfs, Is.EqualTo(64));
            Assert.That(iov.VfDeviceId, Is.EqualTo(0x002f));
            Assert.That(iov.FirstVfOffset, Is.EqualTo(1), "auto: VFs follow the only PF");
            Assert.That(iov.VfStride, Is.EqualTo(1));
            Assert.That(iov.SupportedPageSizes, Is.EqualTo(0x553u));
            Assert.That(iov.VfBars.Single(), Is.EqualTo(new BarDefinition(0, BarKind.Memory64, 16 * 1024)));
            Assert.That(iov.VfMsix, Is.Not.Null);
            Assert.That(raid.Settings?.GetProperty("drives").GetInt32(), Is.EqualTo(8));
        });
    }

    [Test]
    public void Default_HasSwitchWithFourDownstreamPortsAndEmptyHotPlugSlots()
    {
        var host = LoadFile("default.json").Hosts[0];
        var sw = host.AllSwitches().Single();
        Assert.That(sw.DownstreamPorts, Has.Count.EqualTo(4));
        Assert.That(sw.DownstreamPorts.Count(p => p.Downstream is EndpointModel), Is.GreaterThanOrEqualTo(1));
        var emptyHotPlug = host.AllPorts().Where(p => p.Downstream == null && p.HotPlug != null).ToList();
        Assert.That(emptyHotPlug, Is.Not.Empty);
        Assert.That(emptyHotPlug.All(p => p.BusReserve > 0 && p.Slot != null), Is.True);
    }

    [Test]
    public void Default_NicVfsSitOnTheNextBusInterleavedByStride()
    {
        var host = LoadFile("default.json").Hosts[0];
        var nic = host.AllEndpoints().Single(e => e.Name == "nic0");
        var vfs = nic.VirtualFunctions().ToList();
        Assert.That(vfs, Has.Count.EqualTo(16));
        // PF0 at function 0, offset 0x180, stride 4: VF1 at bus+1 devfn 0x80, VF2 at 0x84 ...; PF1's at 0x81, 0x85 ...
        Assert.That(vfs.Where(v => v.Pf.Number == 0).Select(v => v.RelativeRoutingId).Take(3), Is.EqualTo(new[] { 0x180, 0x184, 0x188 }));
        Assert.That(vfs.Where(v => v.Pf.Number == 1).Select(v => v.RelativeRoutingId).Take(3), Is.EqualTo(new[] { 0x181, 0x185, 0x189 }));
        Assert.That(vfs.Select(v => v.RelativeRoutingId).Distinct().Count(), Is.EqualTo(16));
        Assert.That(nic.VfBusesBeyondOwn(), Is.EqualTo(1));
    }

    [Test]
    public void Default_RamIsSplitAroundTheDeviceHole()
    {
        var host = LoadFile("default.json").Hosts[0];
        // ECAM at 0xB0000000 is the lowest window below 4 GiB; 8 GiB of RAM: 2.75 GiB low, 5.25 GiB from 4 GiB.
        Assert.That(host.RamRanges, Is.EqualTo(new[]
        {
            new AddressRange(0, 0xB000_0000),
            new AddressRange(0x1_0000_0000, 8UL * 1024 * 1024 * 1024 - 0xB000_0000),
        }));
    }

    [Test]
    public void Fabric4x8_ParsesWithAtLeast300Functions()
    {
        var model = LoadFile("fabric-4x8.json");
        var host = model.Hosts.Single();
        Assert.That(host.AllSwitches().Count(), Is.EqualTo(4));
        Assert.That(host.AllSwitches().All(s => s.DownstreamPorts.Count == 8), Is.True);
        Assert.That(model.AllFunctions().Count(), Is.GreaterThanOrEqualTo(300));
        Assert.That(host.AllEndpoints().All(e => e.Functions.Count > 1), Is.True, "multi-function endpoints");
    }

    [Test]
    public void ReadmeExample_IsAValidModel()
    {
        var readme = File.ReadAllText(ModelFiles.DeviceModel("README.md"));
        int section = readme.IndexOf("## Example", StringComparison.Ordinal);
        int start = readme.IndexOf("```json", section, StringComparison.Ordinal) + "```json".Length;
        int end = readme.IndexOf("```", start, StringComparison.Ordinal);
        var r = PlatformModel.Parse(readme[start..end], "README.md example");
        Assert.That(r.Errors, Is.Empty, () => string.Join("\n", r.Errors));
        Assert.That(r.Model!.Hosts[0].AllFunctions().Single().Name, Is.EqualTo("nvme0"));
    }
}
