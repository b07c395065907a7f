using PcieVirt.Devices.Nvme;

namespace PcieVirt.Hypervisor.Timing;

/// <summary>Chooses the device's link and DMA timing model for a parameter set.</summary>
internal static class Transport
{
    /// <summary>The transport timing of <paramref name="timing"/> (null until the PCIe model lands).</summary>
    public static INvmeTransportTiming? For(TimingParameters timing) => null;
}
