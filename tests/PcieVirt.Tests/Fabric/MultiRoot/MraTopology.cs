using Microsoft.Extensions.Logging;
using PcieVirt.Fabric;
using PcieVirt.Fabric.MultiRoot;
using PcieVirt.Pci;
using PcieVirt.Pci.Functions;
using static PcieVirt.Tests.Fabric.FabricTestKit;

namespace PcieVirt.Tests.Fabric.MultiRoot;

/// <summary>
/// Three root complexes on one MRA switch:
/// <code>
/// mgmt  00:01.0 root port ── VH0 virtual switch ── vdsp0 ── BF of "mra-dev"
/// host1 00:01.0 root port ── VH1 virtual switch ── vdsp0..3 (PF0 bound at vdsp0 after Boot)
/// host2 00:01.0 root port ── plain endpoint (takes bus 1)
///       00:02.0 root port ── VH2 virtual switch ── vdsp0..3 (PF1 bound at vdsp0 after Boot)
/// </code>
/// Host 2 has an extra root port and other apertures, so its buses and BARs differ from host 1's.
/// PF1 is bound first, so on the device link VH2 gets tag 1 and VH1 tag 2 (the switch re-tags).
/// </summary>
internal sealed class MraTopology
{
    public MraTopology(ILoggerFactory? logging = null)
    {
        Mgmt = new RootComplex(Options() with { Name = "mgmt", EcamBase = 0xB000_0000 }, logging);
        Host1 = new RootComplex(Options() with { Name = "host1" }, logging);
        Host2 = new RootComplex(Options() with
        {
            Name = "host2",
            Mmio32 = new AddressRange(0x9000_0000, 0x1000_0000),
            Mmio64 = new AddressRange(0x80_0000_0000, 0x40_0000_0000),
        }, logging);
        Other = Endpoint("host2-nic", 0x0E00, new BarDefinition(0, BarKind.Memory32, 0x10_0000));
        Host2.AddRootPort(1, 0, Port("h2-rp1", BridgePortKind.RootPort)).ConnectDevice(Other);

        Switch = new MraSwitch(new MraSwitchOptions { Name = "mra0" }, logging);
        Switch.ConnectManagement(Mgmt.AddRootPort(1, 0, Port("m-rp", BridgePortKind.RootPort)));
        Vh1 = Switch.ConnectHost(Host1.AddRootPort(1, 0, Port("h1-rp", BridgePortKind.RootPort)));
        Vh2 = Switch.ConnectHost(Host2.AddRootPort(2, 0, Port("h2-rp2", BridgePortKind.RootPort)));

        Bf = new BaseFunction("mra-dev.bf", new FunctionIdentity { VendorId = 0x1B36, DeviceId = 0x00BF, ClassCode = 0x088000 }, 2);
        Pf0 = Endpoint("mra-dev.pf0", 0x0A00, new BarDefinition(0, BarKind.Memory64, 0x4000));
        Pf1 = Endpoint("mra-dev.pf1", 0x0A01, new BarDefinition(0, BarKind.Memory64, 0x4000));
        Device = new MraDevice("mra-dev", Bf, [Pf0, Pf1]);
        DevicePort = Switch.ConnectDevice(Device);
        Manager = new MrPcim(Switch);
    }

    public RootComplex Mgmt { get; }
    public RootComplex Host1 { get; }
    public RootComplex Host2 { get; }
    public EndpointFunction Other { get; }
    public MraSwitch Switch { get; }
    public VirtualHierarchy Vh1 { get; }
    public VirtualHierarchy Vh2 { get; }
    public BaseFunction Bf { get; }
    public EndpointFunction Pf0 { get; }
    public EndpointFunction Pf1 { get; }
    public MraDevice Device { get; }
    public MraDevicePort DevicePort { get; }
    public MrPcim Manager { get; }

    /// <summary>Enumerates VH0, assigns PF1 to VH2 then PF0 to VH1, enumerates the hosts.</summary>
    public MraTopology Boot()
    {
        Enumerate(Mgmt);
        Assert.That(Manager.Assign(DevicePort, 1, Vh2.Id).IsSuccess);
        Assert.That(Manager.Assign(DevicePort, 0, Vh1.Id).IsSuccess);
        Enumerate(Host1);
        Enumerate(Host2);
        Switch.DevicePorts[0].Link.ResetCounters();
        Vh1.HostLink.ResetCounters();
        Vh2.HostLink.ResetCounters();
        return this;
    }

    /// <summary>Firmware enumeration of one host (also what the tests use as the OS rescan after a hot-add).</summary>
    public static EnumerationReport Enumerate(RootComplex rc)
    {
        var report = new FirmwareEnumerator(rc).Enumerate();
        Assert.That(report.Failures, Is.Empty, $"{rc.Name} enumeration");
        return report;
    }

    public static CompletionStatus Read(RootComplex rc, Bdf bdf, int offset, out uint value) =>
        rc.Read(new PciAddress(rc.Segment, bdf), offset, 4, out value);
}
