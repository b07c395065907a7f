using Microsoft.Extensions.Logging;

namespace PcieVirt.Hypervisor.Fuzz;

internal static partial class Log
{
    [LoggerMessage(EventId = 7400, Level = LogLevel.Error, Message = "fuzz invariant violated at step {Step} (seed {Seed}): {Violation}")]
    public static partial void Violation(ILogger logger, long step, ulong seed, string violation);
}
