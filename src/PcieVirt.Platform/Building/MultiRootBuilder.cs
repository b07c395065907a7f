using Microsoft.Extensions.Logging;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Fabric.MultiRoot;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform.Model;

namespace PcieVirt.Platform.Building;

/// <summary>
/// Builds the <c>multiRoot</c> section on top of the hosts already built: the manager's root complex
/// (VH0), the MRA switch linked to the named root ports, and the MRA devices.
/// </summary>
internal sealed class MultiRootBuilder(ILoggerFactory loggerFactory, string? baseDirectory = null)
{
    readonly FunctionFactory _functions = new(loggerFactory, baseDirectory);

    /// <summary>Options of the manager's root complex: its own small address map (it is a separate machine).</summary>
    static RootComplexOptions ManagementOptions => new()
    {
        Name = MultiRootSystem.ManagementName,
        Segment = 0,
        EcamBase = 0xE000_0000,
        StartBus = 0,
        EndBus = 0x3F,
        Mmio32 = new AddressRange(0xC000_0000, 0x1000_0000),
        RamSize = 0x1000_0000,
    };

    public MultiRootSystem Build(MultiRootModel model, IReadOnlyList<HostSystem> hosts)
    {
        var mgmt = new RootComplex(ManagementOptions, loggerFactory);
        var sw = new MraSwitch(new MraSwitchOptions
        {
            Name = model.Switch.Name,
            VirtualDownstreamPorts = model.Switch.VirtualPorts,
            BusReserve = model.Switch.BusReserve,
        }, loggerFactory);
        sw.ConnectManagement(mgmt.AddRootPort(1, 0, ManagementRootPort()));
        var vhByHost = new Dictionary<string, VirtualHierarchy>(StringComparer.Ordinal);
        foreach (var link in model.Switch.Hosts)
        {
            var host = hosts.First(h => h.Name == link.Host);
            var rp = host.RootComplex.RootPorts.FirstOrDefault(p => p.Function.Name == link.RootPort)
                ?? throw new ArgumentException($"{link.Path}: host '{link.Host}' has no root port '{link.RootPort}'");
            vhByHost[link.Host] = sw.ConnectHost(rp);
        }

        var devices = new List<MultiRootDevice>();
        foreach (var dm in model.Devices)
        {
            RaidControllerDevice? raid = null;
            if (dm.DeviceKind == RaidControllerSettings.DeviceKind)
            {
                var errors = new List<string>();
                var config = RaidControllerSettings.Parse(dm.Settings, $"{dm.Path}.settings", errors, baseDirectory);
                if (config is null || errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));
                try { raid = new RaidControllerDevice(config with { PhysicalFunctions = dm.PhysicalFunctions.Count }, loggerFactory); }
                catch (ArgumentException e) { throw new ArgumentException($"{dm.Path}.settings: {e.Message}", e); }
            }
            var pfs = new List<PciFunction>();
            foreach (var pm in dm.PhysicalFunctions)
                pfs.Add(_functions.Endpoint(pm, PciePortType.Endpoint, new LinkModel(3, 8), 0, new SriovDevice([pm]), raid));
            if (raid != null) CreateVolumes(raid, dm);
            var bf = new BaseFunction($"{dm.Name}.bf", dm.BaseFunction, pfs.Count, loggerFactory.CreateLogger($"PcieVirt.Device.{dm.Name}.bf"));
            var device = new MraDevice(dm.Name, bf, pfs);
            var port = sw.ConnectDevice(device);
            var assign = dm.Assign.Select(a => new MultiRootAssignment(a.Pf, vhByHost[a.Host].Id, a.Port)).ToList();
            devices.Add(new MultiRootDevice(device, port, raid, assign));
        }
        return new MultiRootSystem(mgmt, sw, devices, loggerFactory.CreateLogger("PcieVirt.Platform"));
    }

    static void CreateVolumes(RaidControllerDevice raid, MraDeviceModel dm)
    {
        var config = raid.Config;
        for (int i = 0; i < config.Volumes.Count; i++)
        {
            var (spec, attachTo) = config.Volumes[i];
            string at = $"{dm.Path}.settings.volumes[{i}]";
            var created = raid.CreateVolume(spec);
            if (!created.IsSuccess) throw new ArgumentException($"{at}: {created.Error}");
            foreach (int target in attachTo)
                if (raid.Attach(spec.Name, target) is { IsSuccess: false } r) throw new ArgumentException($"{at}.attach: {r.Error}");
        }
        foreach (var a in dm.Attach)
            if (raid.Attach(a.Volume, a.Pf, a.Controller) is { IsSuccess: false } r) throw new ArgumentException($"{a.Path}: {r.Error}");
    }

    BridgeFunction ManagementRootPort()
    {
        var f = new BridgeFunction("mgmt-rp", new FunctionIdentity { VendorId = 0x1B36, DeviceId = 0x000C, ClassCode = 0x060400 },
            BridgePortKind.RootPort, loggerFactory.CreateLogger("PcieVirt.Port.mgmt-rp"));
        f.AddCapability(new PciExpressCapability(new PciExpressOptions { PortType = PciePortType.RootPort, MaxLinkWidth = 8, LinkWidth = 8 }));
        f.Seal();
        return f;
    }
}
