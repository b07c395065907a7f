namespace PcieVirt.Fabric;

/// <summary>Completion Status field values (PCIe Base Spec §2.2.9).</summary>
public enum CompletionStatus : byte
{
    /// <summary>SC.</summary>
    SuccessfulCompletion = 0b000,
    /// <summary>UR: no function claimed the request, or it was not supported.</summary>
    UnsupportedRequest = 0b001,
    /// <summary>CRS / RRS: the function is not ready yet (e.g. during the settle time after a reset).</summary>
    ConfigurationRequestRetry = 0b010,
    /// <summary>CA.</summary>
    CompleterAbort = 0b100,
}
