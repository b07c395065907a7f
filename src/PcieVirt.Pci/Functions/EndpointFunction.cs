using Microsoft.Extensions.Logging;
using PcieVirt.Pci.Config;

namespace PcieVirt.Pci.Functions;

/// <summary>A function with a Type 0 header (§7.5.1.2): an endpoint, a PF, a VF.</summary>
public class EndpointFunction(string name, FunctionIdentity identity, ILogger? logger = null)
    : PciFunction(name, identity, logger)
{
    public override int HeaderLayout => 0;

    protected override void LayoutHeader(ConfigSpace c, ref bool decodesIo, ref bool decodesMemory)
    {
        c.Define(PciRegs.SubsystemVendorId, 2, Identity.SubsystemVendorId);
        c.Define(PciRegs.SubsystemId, 2, Identity.SubsystemId);
        // Min_Gnt / Max_Lat do not apply to PCIe and are hardwired to 0 (§7.5.1.2.9).
    }
}
