using Microsoft.Extensions.Logging;
using PcieVirt.Fabric;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using static PcieVirt.Tests.Fabric.FabricTestKit;
using PcieVirt.Pci.Capabilities;

namespace PcieVirt.Tests.Fabric;

/// <summary>
/// A small hierarchy used by the routing tests:
/// <code>
/// 00:02.0 RC-integrated endpoint
/// 00:1c.0 root port 0 ── switch: upstream port (bus 1) ── internal bus 2
///                                  02:00.0 downstream port 0 ── bus 3: endpoint A (3 functions)
///                                  02:01.0 downstream port 1 ── bus 4: endpoint B
/// 00:1d.0 root port 1 ── bus 5: endpoint C
/// </code>
/// Bus numbers are programmed with config writes by <see cref="ProgramBuses"/>.
/// </summary>
internal sealed class SwitchTopology
{
    public SwitchTopology(ILoggerFactory? logging = null, bool ariOnDownstreamPort0 = false)
    {
        Rc = NewRootComplex(logging);
        Rciep = Endpoint("rciep", 0x0100, new BarDefinition(0, BarKind.Memory32, 0x1000));
        Rc.AddIntegratedEndpoint(2, 0, Rciep);
        Rp0 = Rc.AddRootPort(0x1c, 0, Port("rp0", BridgePortKind.RootPort));
        Rp1 = Rc.AddRootPort(0x1d, 0, Port("rp1", BridgePortKind.RootPort));
        Switch = Rp0.ConnectSwitch(Port("usp", BridgePortKind.SwitchUpstreamPort));
        Dsp0 = Switch.AddDownstreamPort(0, 0, Port("dsp0", BridgePortKind.SwitchDownstreamPort, ariOnDownstreamPort0));
        Dsp1 = Switch.AddDownstreamPort(1, 0, Port("dsp1", BridgePortKind.SwitchDownstreamPort));
        A0 = Endpoint("a0", 0x0A00, new BarDefinition(0, BarKind.Memory32, 0x4000),
            new BarDefinition(2, BarKind.Memory64, 0x10_0000, Prefetchable: true), new BarDefinition(4, BarKind.Io, 0x20));
        A1 = Endpoint("a1", 0x0A01);
        A2 = Endpoint("a2", 0x0A02);
        Dsp0.ConnectDevice(A0, A1, A2);
        B = Endpoint("b", 0x0B00, new BarDefinition(0, BarKind.Memory32, 0x1000));
        Dsp1.ConnectDevice(B);
        C = Endpoint("c", 0x0C00, new BarDefinition(0, BarKind.Memory32, 0x1000));
        Rp1.ConnectDevice(C);
    }

    public RootComplex Rc { get; }
    public EndpointFunction Rciep { get; }
    public RootPort Rp0 { get; }
    public RootPort Rp1 { get; }
    public PcieSwitch Switch { get; }
    public DownstreamPort Dsp0 { get; }
    public DownstreamPort Dsp1 { get; }
    public EndpointFunction A0 { get; }
    public EndpointFunction A1 { get; }
    public EndpointFunction A2 { get; }
    public EndpointFunction B { get; }
    public EndpointFunction C { get; }

    public SwitchTopology ProgramBuses()
    {
        Buses(Rc, Rp0.Function, 0, 1, 4);
        Buses(Rc, Switch.UpstreamPort, 1, 2, 4);
        Buses(Rc, Dsp0.Function, 2, 3, 3);
        Buses(Rc, Dsp1.Function, 2, 4, 4);
        Buses(Rc, Rp1.Function, 0, 5, 5);
        return this;
    }

    /// <summary>Memory windows and BARs for A0 / B, all decoders and bus masters on.</summary>
    public SwitchTopology ProgramMemory()
    {
        // A0: BAR0 0xC000_0000 (16 KiB), BAR2 0x40_0000_0000 (1 MiB prefetchable), BAR4 I/O 0x2000.
        Cfg(Rc, A0.Bdf, 0x10, 4, 0xC000_0000);
        Cfg(Rc, A0.Bdf, 0x18, 4, 0x0000_0000);
        Cfg(Rc, A0.Bdf, 0x1C, 4, 0x40);
        Cfg(Rc, A0.Bdf, 0x20, 4, 0x2000);
        Cfg(Rc, B.Bdf, 0x10, 4, 0xC010_0000);
        foreach (var br in new[] { Rp0.Function, Switch.UpstreamPort })
        {
            br.SetMemoryWindow(0xC000_0000, 0xC01F_FFFF);
            br.SetPrefetchableWindow(0x40_0000_0000, 0x40_000F_FFFF);
            br.SetIoWindow(0x2000, 0x2FFF);
        }
        Dsp0.Function.SetMemoryWindow(0xC000_0000, 0xC00F_FFFF);
        Dsp0.Function.SetPrefetchableWindow(0x40_0000_0000, 0x40_000F_FFFF);
        Dsp0.Function.SetIoWindow(0x2000, 0x2FFF);
        Dsp1.Function.SetMemoryWindow(0xC010_0000, 0xC01F_FFFF);
        Dsp1.Function.SetPrefetchableWindow(1, 0);
        Dsp1.Function.SetIoWindow(1, 0);
        var all = PciCommand.MemorySpace | PciCommand.IoSpace | PciCommand.BusMaster;
        foreach (var f in new PciFunction[] { Rp0.Function, Switch.UpstreamPort, Dsp0.Function, Dsp1.Function, A0, B })
            Command(Rc, f, all);
        return this;
    }

    public ushort SecondaryStatus(PciFunction bridge) => bridge.Config.Read16(PciRegs.SecondaryStatus);

    /// <summary>Device Status of a port's test PCIe capability.</summary>
    public static ushort DeviceStatus(PciFunction f) =>
        f.Config.Read16(CapabilityWalker.FindCapability(f.Config, CapabilityIds.PciExpress) + 0x0A);
}
