using Microsoft.Extensions.Logging;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Fabric.MultiRoot;

namespace PcieVirt.Platform;

/// <summary>A PF's place at boot: VH <paramref name="VhId"/>, virtual port <paramref name="Port"/> (null: first free).</summary>
public sealed record MultiRootAssignment(int Pf, int VhId, int? Port);

/// <summary>An MRA device of the platform with its switch port and, for a raid-controller, the shared controller.</summary>
public sealed record MultiRootDevice(MraDevice Device, MraDevicePort Port, RaidControllerDevice? Raid, IReadOnlyList<MultiRootAssignment> InitialAssignments);

/// <summary>
/// The multi-root part of a platform: the manager's root complex (VH0, "mgmt"), the MRA switch, its
/// devices and the manager (MR-PCIM). <see cref="Boot"/> enumerates VH0 and applies the model's
/// assignments before the hosts enumerate, as a manager running before the hosts power on would.
/// </summary>
public sealed class MultiRootSystem
{
    /// <summary>The name <c>--host</c> takes for the management view.</summary>
    public const string ManagementName = "mgmt";

    readonly ILogger _log;

    internal MultiRootSystem(RootComplex management, MraSwitch mraSwitch, IReadOnlyList<MultiRootDevice> devices, ILogger log)
    {
        Management = management;
        Switch = mraSwitch;
        Devices = devices;
        Manager = new MrPcim(mraSwitch);
        _log = log;
    }

    /// <summary>The manager's root complex: VH0, where the switch's management view and every BF are.</summary>
    public RootComplex Management { get; }
    /// <summary>The MRA switch.</summary>
    public MraSwitch Switch { get; }
    /// <summary>The MRA devices, by switch port.</summary>
    public IReadOnlyList<MultiRootDevice> Devices { get; }
    /// <summary>MR-PCIM.</summary>
    public MrPcim Manager { get; }

    /// <summary>Enumerates VH0 and assigns the PFs as the model says.</summary>
    public void Boot()
    {
        var report = new FirmwareEnumerator(Management, null, _log).Enumerate();
        foreach (var f in report.Failures) Building.Log.ManagementEnumerationFailure(_log, f.ToString());
        foreach (var d in Devices)
            foreach (var a in d.InitialAssignments)
                if (Manager.Assign(d.Port, a.Pf, a.VhId, a.Port) is { IsSuccess: false } r)
                    throw new InvalidOperationException($"{d.Device.Name}: PF {a.Pf}: {r.Error}");
    }

    /// <summary>The MRA device named <paramref name="name"/>, or null.</summary>
    public MultiRootDevice? FindDevice(string name) => Devices.FirstOrDefault(d => d.Device.Name == name);

    /// <summary>The device and PF index of the PF named <paramref name="pfName"/>, or null.</summary>
    public (MultiRootDevice Device, int Pf)? FindPf(string pfName)
    {
        foreach (var d in Devices)
            for (int i = 0; i < d.Device.PhysicalFunctions.Count; i++)
                if (d.Device.PhysicalFunctions[i].Name == pfName) return (d, i);
        return null;
    }
}
