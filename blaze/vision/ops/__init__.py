"""blaze.vision.ops: torchvision.ops' detection building blocks.

Box geometry and the focal loss are compositions of Tensor ops (autograd on both devices for free);
``nms`` and ``roi_align`` have Triton kernels on cuda (blaze/kernels/nms.py, roi_align.py) and NumPy
references on cpu; ``roi_pool`` is NumPy on both (a counted host round trip on cuda).

    from blaze.vision.ops import box_iou, nms, roi_align
"""
from .boxes import (box_area, box_convert, box_iou, clip_boxes_to_image, complete_box_iou, distance_box_iou,
                    generalized_box_iou, remove_small_boxes)
from .focal_loss import sigmoid_focal_loss
from .nms import batched_nms, nms
from .roi_align import RoIAlign, roi_align
from .roi_pool import RoIPool, roi_pool

__all__ = ["batched_nms", "box_area", "box_convert", "box_iou", "clip_boxes_to_image", "complete_box_iou",
           "distance_box_iou", "generalized_box_iou", "nms", "remove_small_boxes", "sigmoid_focal_loss",
           "RoIAlign", "roi_align", "RoIPool", "roi_pool"]
