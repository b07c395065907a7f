using PcieVirt.Devices.RaidController;
using PcieVirt.Pci;

namespace PcieVirt.Platform;

public sealed partial class HostSystem
{
    /// <summary>The RAID controller whose PF is at <paramref name="bdf"/> on this host, or null.</summary>
    public RaidControllerDevice? FindRaidController(Bdf bdf) =>
        (RootComplex.FindFunction(bdf) as RaidControllerFunction)?.Device;

    /// <summary>Every RAID controller PF on this host.</summary>
    public IEnumerable<RaidControllerFunction> RaidControllers() =>
        RootComplex.AttachedFunctions.OfType<RaidControllerFunction>();
}
