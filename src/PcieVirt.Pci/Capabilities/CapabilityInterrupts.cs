using PcieVirt.Pci.Functions;

namespace PcieVirt.Pci.Capabilities;

/// <summary>
/// Interrupts that a capability raises for itself (hot-plug, PME, advanced error) use the vector its
/// "Interrupt Message Number" field names, on MSI-X when enabled, else MSI when enabled (§6.1.4, §7.5.3.2).
/// </summary>
internal static class CapabilityInterrupts
{
    /// <summary>Triggers <paramref name="vector"/>; returns false when neither MSI-X nor MSI is enabled (INTx would be used).</summary>
    public static bool Request(PciFunction function, int vector)
    {
        if (function.FindCapability<MsixCapability>() is { IsEnabled: true } msix)
        {
            if (vector < msix.TableSize) msix.Trigger(vector);
            return true;
        }
        if (function.FindCapability<MsiCapability>() is { IsEnabled: true } msi)
        {
            if (vector < msi.Options.VectorsRequested) msi.Trigger(vector);
            return true;
        }
        return false;
    }
}
