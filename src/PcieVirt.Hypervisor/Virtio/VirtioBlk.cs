namespace PcieVirt.Hypervisor.Virtio;

/// <summary>virtio-blk request types (the header's <c>type</c> field, VIRTIO 1.x §5.2.6).</summary>
public enum VirtioBlkRequestType : uint
{
    /// <summary>VIRTIO_BLK_T_IN: read from the device into the driver's buffers.</summary>
    In = 0,
    /// <summary>VIRTIO_BLK_T_OUT: write the driver's buffers to the device.</summary>
    Out = 1,
    /// <summary>VIRTIO_BLK_T_FLUSH: make completed writes durable.</summary>
    Flush = 4,
    /// <summary>VIRTIO_BLK_T_GET_ID: return the device's serial string (up to 20 bytes).</summary>
    GetId = 8,
}

/// <summary>virtio-blk request status values (the trailing status byte, §5.2.6).</summary>
public static class VirtioBlkStatus
{
    public const byte Ok = 0;
    public const byte IoErr = 1;
    public const byte Unsupported = 2;
}

/// <summary>Fixed sizes of the virtio-blk request format (§5.2.6).</summary>
public static class VirtioBlkLayout
{
    /// <summary>The request header: le32 type, le32 reserved, le64 sector.</summary>
    public const int HeaderSize = 16;
    public const int TypeOffset = 0;
    public const int ReservedOffset = 4;
    public const int SectorOffset = 8;

    /// <summary>Sector unit of the header and of capacity: always 512 bytes, whatever the block size.</summary>
    public const int SectorSize = 512;

    /// <summary>Length of the GET_ID serial string (VIRTIO_BLK_ID_BYTES); shorter strings are NUL-terminated.</summary>
    public const int IdBytes = 20;
}
