using Microsoft.Extensions.Logging;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform.Model;

namespace PcieVirt.Platform.Building;

/// <summary>Builds one host's root complex and everything below it from its model.</summary>
internal sealed class HostBuilder(ILoggerFactory loggerFactory, string? baseDirectory = null)
{
    readonly FunctionFactory _functions = new(loggerFactory, baseDirectory);

    public RootComplex Build(HostModel host)
    {
        var options = new RootComplexOptions
        {
            Name = host.Name,
            Segment = host.Segment,
            // The model names where bus BusStart's config space sits; the fabric wants bus 0's (as ACPI MCFG).
            EcamBase = host.Ecam.Base - ((ulong)host.Ecam.BusStart << 20),
            StartBus = host.Ecam.BusStart,
            EndBus = host.Ecam.BusEnd,
            Mmio32 = host.Apertures.Mmio32,
            Mmio64 = host.Apertures.Mmio64 ?? AddressRange.None,
            Io = host.Apertures.Io ?? AddressRange.None,
            RamSize = host.RamSize,
            RamRanges = host.RamRanges.ToArray(),
        };
        var rc = new RootComplex(options, loggerFactory);

        foreach (var ep in host.IntegratedEndpoints)
        {
            var pfs = new SriovDevice(ep.Functions);
            foreach (var (fm, next) in WithNextAri(ep))
                rc.AddIntegratedEndpoint(ep.Device, fm.Number, _functions.Endpoint(fm, PciePortType.RcIntegratedEndpoint, null, next, pfs));
        }

        int portNumber = 1;
        foreach (var rpm in host.RootPorts)
        {
            var rp = rc.AddRootPort(rpm.Device, rpm.Function, _functions.DownstreamFacingPort(rpm, isRootPort: true, portNumber++));
            Attach(rp, rpm);
        }
        foreach (var raid in rc.AttachedFunctions.OfType<RaidControllerFunction>())
        {
            // The controller's virtual time is its host's; a model with settings.qos starts arbitrated.
            raid.Device.Clock = () => rc.Clock.Now;
            if (raid.Device.Config.Qos != null && raid.Device.EnableQos() is { IsSuccess: false } q)
                throw new ArgumentException($"{raid.Name}: QoS: {q.Error}");
        }
        return rc;
    }

    void Attach(PciePort port, PortModel pm)
    {
        port.BusReserve = pm.BusReserve;
        switch (pm.Downstream)
        {
            case null:
                break;
            case EndpointModel ep:
                var pfs = new SriovDevice(ep.Functions);
                var functions = WithNextAri(ep)
                    .Select(x => (PciFunction)_functions.Endpoint(x.Function, PciePortType.Endpoint, pm.Link, x.Next, pfs))
                    .ToArray();
                port.ConnectDevice(functions);
                break;
            case SwitchModel sm:
                var sw = port.ConnectSwitch(_functions.SwitchUpstreamPort(sm, pm.Link));
                int n = 0;
                foreach (var dpm in sm.DownstreamPorts)
                {
                    var dp = sw.AddDownstreamPort(dpm.Device, dpm.Function, _functions.DownstreamFacingPort(dpm, isRootPort: false, n++));
                    Attach(dp, dpm);
                }
                break;
        }
    }

    /// <summary>Pairs each function with the ARI Next Function Number: the next PF of the device, 0 after the last (§7.8.8).</summary>
    static IEnumerable<(FunctionModel Function, byte Next)> WithNextAri(EndpointModel ep)
    {
        for (int i = 0; i < ep.Functions.Count; i++)
            yield return (ep.Functions[i], i + 1 < ep.Functions.Count ? (byte)ep.Functions[i + 1].Number : (byte)0);
    }
}
